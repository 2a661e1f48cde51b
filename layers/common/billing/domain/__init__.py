"""The billing domain: pure rules with no I/O (money, calendar, pricing, state machine)."""
