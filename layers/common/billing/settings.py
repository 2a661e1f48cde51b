"""What the shared layer reads from the environment: tables, payment providers, notifications,
the idempotency store, the renewal queue and metrics."""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from typing import Self
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from billing.domain.contacts import SalesContact
from billing.domain.dunning import DunningSchedule, check_renewal_notice


class EnvironmentSettings(BaseModel):
    """Settings read once from environment variables, named by each field's alias."""

    # Validators are built on first use: a function uses a few of these models, and building
    # them all at import would lengthen every cold start (docs/performance.md).
    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore", defer_build=True)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Self:
        return cls.model_validate(dict(os.environ if environ is None else environ))


class StorageSettings(EnvironmentSettings):
    """DynamoDB tables (names set by ``template.yaml``) and the due index's shard count."""

    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=3)
    subscriptions_table: str = Field(alias="SUBSCRIPTIONS_TABLE", min_length=3)
    charge_attempts_table: str = Field(alias="CHARGE_ATTEMPTS_TABLE", min_length=3)
    audit_events_table: str = Field(alias="AUDIT_EVENTS_TABLE", min_length=3)
    outbox_table: str = Field(alias="OUTBOX_TABLE", min_length=3)
    documents_table: str = Field(alias="DOCUMENTS_TABLE", min_length=3)
    due_index_shards: int = Field(default=16, alias="DUE_INDEX_SHARDS", ge=1, le=1000)
    """Changing it needs a migration: existing index entries keep the shard they were written in."""
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    dynamodb_endpoint: str | None = Field(default=None, alias="DYNAMODB_ENDPOINT_URL")
    """Only set off AWS (moto server in the local stack)."""


class ProviderSettings(EnvironmentSettings):
    """Payment providers. In AWS the credentials come from Secrets Manager (`*_SECRET_NAME`);
    in the local stack and tests they are set directly in the environment."""

    stripe_secret_name: str | None = Field(default=None, alias="STRIPE_SECRET_NAME")
    """A secret holding the Stripe secret key as plain text."""
    stripe_api_key: SecretStr | None = Field(default=None, alias="STRIPE_API_KEY")
    stripe_api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")
    """Only set off AWS (localstripe)."""
    stripe_publishable_key: str = Field(
        default="pk_test_local", alias="STRIPE_PUBLISHABLE_KEY", pattern=r"^pk_(test|live)_\w+$"
    )
    """Public: the customer's page runs Stripe.js with it to confirm a payment (3-D Secure).
    Set by ``template.yaml`` (``StripePublishableKey``); localstripe takes any test key."""
    paypal_secret_name: str | None = Field(default=None, alias="PAYPAL_SECRET_NAME")
    """A secret holding ``{"client_id": …, "client_secret": …}``."""
    paypal_client_id: str | None = Field(default=None, alias="PAYPAL_CLIENT_ID")
    paypal_client_secret: SecretStr | None = Field(default=None, alias="PAYPAL_CLIENT_SECRET")
    paypal_api_base: str = Field(default="https://api-m.paypal.com", alias="PAYPAL_API_BASE")
    paypal_return_url: str = Field(
        default="http://127.0.0.1:3000/paypal/return", alias="PAYPAL_RETURN_URL"
    )
    paypal_cancel_url: str = Field(
        default="http://127.0.0.1:3000/paypal/cancel", alias="PAYPAL_CANCEL_URL"
    )
    timeout_seconds: float = Field(default=20.0, alias="PROVIDER_TIMEOUT_SECONDS", gt=0, le=60)


class NotificationSettings(EnvironmentSettings):
    """Where customer and partner emails come from (SES) and where sales notices go (SNS).

    Off AWS, boto3 reaches moto server through ``AWS_ENDPOINT_URL_SES`` / ``AWS_ENDPOINT_URL_SNS``.
    """

    email_sender: str = Field(alias="EMAIL_SENDER", min_length=3, pattern=r"@")
    """The SES-verified From address, e.g. ``Billing <billing@example.com>``."""
    sales_topic_arn: str = Field(alias="SALES_TOPIC_ARN", pattern=r"^arn:aws[\w-]*:sns:")
    ses_configuration_set: str | None = Field(default=None, alias="SES_CONFIGURATION_SET")
    """SES configuration set for delivery, bounce and complaint events; none by default."""
    region: str = Field(default="us-east-1", alias="AWS_REGION")


class IdempotencySettings(EnvironmentSettings):
    """Where Powertools Idempotency keeps the first answer to each Idempotency-Key."""

    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3)


class RenewalSettings(EnvironmentSettings):
    """The queue the renewal run fans out through."""

    renewal_queue_url: str = Field(alias="RENEWAL_QUEUE_URL", pattern=r"^https?://")
    region: str = Field(default="us-east-1", alias="AWS_REGION")


class MetricsSettings(EnvironmentSettings):
    """Where metrics go: Powertools' own variables, with the template's values as defaults."""

    namespace: str = Field(default="SubscriptionBilling", alias="POWERTOOLS_METRICS_NAMESPACE")
    service: str = Field(default="billing", alias="POWERTOOLS_SERVICE_NAME")


class DunningSettings(EnvironmentSettings):
    """When failed renewals are tried again (template parameters ``DunningRetryDays`` and
    ``ProviderErrorGraceHours``) and how long before a period ends the renewal notice goes out
    (``RenewalNoticeDays``); a schedule that cannot work, or a notice outside the one to three
    months the law allows, stops the function at start-up."""

    retry_days: tuple[int, ...] = Field(default=(1, 3, 7, 14), alias="DUNNING_RETRY_DAYS")
    """Days after the first failure, e.g. ``1,3,7,14``: positive and increasing."""
    provider_error_grace_hours: int = Field(
        default=72, alias="PROVIDER_ERROR_GRACE_HOURS", ge=0, le=24 * 30
    )
    renewal_notice_days: int = Field(default=45, alias="RENEWAL_NOTICE_DAYS")
    """Days before the period ends, 31 to 89: one to three months whatever the months."""

    @field_validator("retry_days", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(part.strip() for part in value.split(","))
        return value

    @field_validator("renewal_notice_days")
    @classmethod
    def _a_lawful_notice(cls, value: int) -> int:
        check_renewal_notice(timedelta(days=value))  # ValueError, naming the bounds
        return value

    @model_validator(mode="after")
    def _a_schedule(self) -> DunningSettings:
        self.schedule()  # ValueError, naming the problem, when the days cannot be a schedule
        return self

    def schedule(self) -> DunningSchedule:
        return DunningSchedule(
            retry_days=self.retry_days,
            provider_error_grace=timedelta(hours=self.provider_error_grace_hours),
            renewal_notice=timedelta(days=self.renewal_notice_days),
        )


class ContactSettings(EnvironmentSettings):
    """Where customers are sent to act (template parameters ``CustomerPortalUrl``,
    ``SalesContactEmail``, ``SalesChatUrl``): every email links to the billing page, and
    answers that send a customer to sales say how to reach them."""

    customer_portal_url: str = Field(
        default="http://127.0.0.1:3000/portal", alias="CUSTOMER_PORTAL_URL", pattern=r"^https?://"
    )
    sales_email: str = Field(
        default="sales@example.com", alias="SALES_CONTACT_EMAIL", min_length=3, pattern=r"@"
    )
    sales_chat_url: str | None = Field(default=None, alias="SALES_CHAT_URL", pattern=r"^https?://")

    @property
    def sales(self) -> SalesContact:
        return SalesContact(self.sales_email, self.sales_chat_url)

    @property
    def page_origin(self) -> str:
        """Where the billing page's scripts run (the scheme and host of its address): the one
        origin the API's CORS headers let read its answers."""
        address = urlsplit(self.customer_portal_url)
        return f"{address.scheme}://{address.netloc}"


class WebhookSettings(EnvironmentSettings):
    """The providers' webhooks: where each verified event is recorded once (its table's stream
    hands it to the function that acts on it), and how signatures are checked. In AWS the
    Stripe signing secret comes from Secrets Manager (`STRIPE_WEBHOOK_SECRET_NAME`); in the
    local stack and tests it is set directly."""

    webhook_events_table: str = Field(alias="WEBHOOK_EVENTS_TABLE", min_length=3)
    stripe_webhook_secret_name: str | None = Field(default=None, alias="STRIPE_WEBHOOK_SECRET_NAME")
    """A secret holding the endpoint's signing secret (``whsec_…``) as plain text."""
    stripe_webhook_secret: SecretStr | None = Field(default=None, alias="STRIPE_WEBHOOK_SECRET")
    paypal_webhook_id: str = Field(alias="PAYPAL_WEBHOOK_ID", min_length=1)
    """The id PayPal gave the endpoint when it was registered: part of what PayPal signs."""
    tolerance_seconds: int = Field(default=300, alias="WEBHOOK_TOLERANCE_SECONDS", ge=1, le=3600)
    """How old a Stripe signature may be (Stripe's SDK default): an older one is a replay."""
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    dynamodb_endpoint: str | None = Field(default=None, alias="DYNAMODB_ENDPOINT_URL")


class VatIdSettings(EnvironmentSettings):
    """Where VAT IDs are checked (template parameter ``ViesApiBase``): the EU's VIES service in
    AWS, the local stack's stand-in on loopback; and how long one check may wait for it."""

    vies_api_base: str = Field(
        default="https://ec.europa.eu/taxation_customs/vies/rest-api",
        alias="VIES_API_BASE",
        pattern=r"^https?://",
    )
    vies_timeout_seconds: float = Field(default=5.0, alias="VIES_TIMEOUT_SECONDS", gt=0, le=20)
    """Short: the billing form and a charge wait for it, and an unanswered check is retried
    later rather than holding either up (docs/tax.md)."""


class InvoiceSettings(EnvironmentSettings):
    """Where invoices and credit notes are archived as PDF (``InvoicesBucket``), and how long a
    download link lasts."""

    invoices_bucket: str = Field(alias="INVOICES_BUCKET", min_length=3)
    link_seconds: int = Field(default=300, alias="INVOICE_LINK_SECONDS", ge=1, le=3600)
    """Long enough to open the PDF, short enough that a forwarded link is soon dead."""
    region: str = Field(default="us-east-1", alias="AWS_REGION")
