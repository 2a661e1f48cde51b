"""Admin, partner and sales routes: accounts, partner subscriptions, follow-ups."""
