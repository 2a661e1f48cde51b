"""The gateways the settings describe, with credentials from Secrets Manager or the environment."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

from aws_lambda_powertools.utilities import parameters

from billing.domain.accounts import PaymentProvider
from billing.providers.gateway import PaymentGateway, WebhookVerifier
from billing.providers.paypal_gateway import PayPalGateway
from billing.providers.stripe_gateway import StripeGateway
from billing.providers.webhooks import PayPalWebhooks, StripeWebhooks
from billing.settings import ProviderSettings, WebhookSettings

SECRET_MAX_AGE = 300
"""Seconds a fetched secret is cached per Lambda process: a rotation is picked up within that."""


class MissingCredentials(Exception):
    """A provider has neither a secret name nor credentials in the environment."""


def _secret(name: str) -> str:
    value = parameters.get_secret(name, max_age=SECRET_MAX_AGE)
    return value if isinstance(value, str) else bytes(value).decode()


def stripe_api_key(settings: ProviderSettings) -> str:
    if settings.stripe_secret_name:
        return _secret(settings.stripe_secret_name).strip()
    if settings.stripe_api_key is not None:
        return settings.stripe_api_key.get_secret_value()
    raise MissingCredentials("set STRIPE_SECRET_NAME (AWS) or STRIPE_API_KEY (local)")


def paypal_credentials(settings: ProviderSettings) -> tuple[str, str]:
    if settings.paypal_secret_name:
        secret = json.loads(_secret(settings.paypal_secret_name))
        return secret["client_id"], secret["client_secret"]
    if settings.paypal_client_id and settings.paypal_client_secret is not None:
        return settings.paypal_client_id, settings.paypal_client_secret.get_secret_value()
    raise MissingCredentials(
        "set PAYPAL_SECRET_NAME (AWS) or PAYPAL_CLIENT_ID and PAYPAL_CLIENT_SECRET (local)"
    )


def stripe_webhook_secret(settings: WebhookSettings) -> str:
    if settings.stripe_webhook_secret_name:
        return _secret(settings.stripe_webhook_secret_name).strip()
    if settings.stripe_webhook_secret is not None:
        return settings.stripe_webhook_secret.get_secret_value()
    raise MissingCredentials(
        "set STRIPE_WEBHOOK_SECRET_NAME (AWS) or STRIPE_WEBHOOK_SECRET (local)"
    )


def _paypal(settings: ProviderSettings) -> PayPalGateway:
    client_id, client_secret = paypal_credentials(settings)
    return PayPalGateway(
        client_id,
        client_secret,
        api_base=settings.paypal_api_base,
        return_url=settings.paypal_return_url,
        cancel_url=settings.paypal_cancel_url,
        timeout=settings.timeout_seconds,
    )


def gateways(settings: ProviderSettings) -> dict[PaymentProvider, PaymentGateway]:
    return {
        PaymentProvider.STRIPE: StripeGateway(
            stripe_api_key(settings),
            publishable_key=settings.stripe_publishable_key,
            api_base=settings.stripe_api_base,
            timeout=settings.timeout_seconds,
        ),
        PaymentProvider.PAYPAL: _paypal(settings),
    }


def webhook_verifiers(
    providers: ProviderSettings, webhooks: WebhookSettings, clock: Callable[[], datetime]
) -> dict[PaymentProvider, WebhookVerifier]:
    """Each provider's webhook verifier: Stripe's with the endpoint's signing secret and the
    product's `clock` (the age of a signature), PayPal's asking PayPal through the adapter."""
    return {
        PaymentProvider.STRIPE: StripeWebhooks(
            stripe_webhook_secret(webhooks), clock=clock, tolerance=webhooks.tolerance_seconds
        ),
        PaymentProvider.PAYPAL: PayPalWebhooks(_paypal(providers), webhooks.paypal_webhook_id),
    }
