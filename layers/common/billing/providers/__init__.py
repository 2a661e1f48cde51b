"""Payment providers behind one interface: Stripe and PayPal adapters, and their shared retry."""
