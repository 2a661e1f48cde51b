"""Plans, purchase history, buying, and reading one subscription, its payments and events."""
