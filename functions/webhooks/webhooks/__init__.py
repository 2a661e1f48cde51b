"""The payment providers' webhooks: received (signature checked, recorded once) and acted on."""
