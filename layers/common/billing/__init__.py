"""Shared layer of the subscription-billing backend: the billing domain and its adapters."""
