"""The renewal run: the scheduled dispatcher and the SQS worker."""
