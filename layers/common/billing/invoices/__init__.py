"""Invoices and credit notes as documents a customer keeps: rendered as PDF (`pdf`) and archived
once in S3, from where a short-lived link downloads them (`archive`)."""
