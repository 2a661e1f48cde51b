"""Retry Now (customers) and the manual recharge (sales)."""
