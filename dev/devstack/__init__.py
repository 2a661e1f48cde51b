"""Local stand-ins for the payment providers, used by the tests and the local stack only."""
