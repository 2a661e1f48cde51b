"""Customer emails (SES), sales and partner notices (SNS/SES) for the effects of a change."""
