"""Sending the outbox: emails and notices owed by committed changes."""
