"""The HTTP edge shared by every API function: errors, callers, request bodies, idempotency."""
