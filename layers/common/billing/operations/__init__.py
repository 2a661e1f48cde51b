"""What the API functions do, one operation per request: thin handlers call these."""
