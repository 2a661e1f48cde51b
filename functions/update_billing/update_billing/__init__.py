"""Billing information and payment methods."""
