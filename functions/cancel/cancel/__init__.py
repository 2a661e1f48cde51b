"""Cancelling and resuming auto-renewal."""
