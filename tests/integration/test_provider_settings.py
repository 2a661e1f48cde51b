"""Provider credentials: from Secrets Manager in AWS (moto here), from the environment locally."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import uuid4

import boto3
import pytest
from moto import mock_aws

from billing.domain.accounts import Account, PaymentProvider
from billing.domain.charges import ChargeStatus
from billing.domain.money import Currency, Money
from billing.providers.configured import (
    MissingCredentials,
    gateways,
    paypal_credentials,
    stripe_api_key,
)
from billing.providers.gateway import ChargeRequest
from billing.settings import ProviderSettings
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from tests.support.localstripe import card_setup
from tests.support.stand_ins import StandIn


@pytest.fixture
def secrets() -> Iterator[object]:
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="us-east-1")


def _secret(client: object, value: str) -> str:
    name = f"billing/{uuid4().hex}"  # unique: Powertools caches secrets by name
    client.create_secret(Name=name, SecretString=value)  # type: ignore[attr-defined]
    return name


def test_credentials_come_from_secrets_manager_when_named(secrets: object) -> None:
    settings = ProviderSettings.from_environment(
        {
            "STRIPE_SECRET_NAME": _secret(secrets, "sk_test_from_secret\n"),
            "PAYPAL_SECRET_NAME": _secret(
                secrets, json.dumps({"client_id": "id-1", "client_secret": "secret-1"})
            ),
            "STRIPE_API_KEY": "sk_test_ignored",
        }
    )

    assert stripe_api_key(settings) == "sk_test_from_secret"
    assert paypal_credentials(settings) == ("id-1", "secret-1")


def test_missing_credentials_are_named() -> None:
    settings = ProviderSettings.from_environment({})

    with pytest.raises(MissingCredentials, match="STRIPE_API_KEY"):
        stripe_api_key(settings)
    with pytest.raises(MissingCredentials, match="PAYPAL_CLIENT_ID"):
        paypal_credentials(settings)


def test_secrets_never_show_in_the_settings_repr() -> None:
    settings = ProviderSettings.from_environment(
        {"STRIPE_API_KEY": "sk_test_hidden", "PAYPAL_CLIENT_SECRET": "pp-hidden"}
    )

    assert "hidden" not in repr(settings)


def test_configured_gateways_reach_the_local_providers(
    localstripe: StandIn, paypal: StandIn
) -> None:
    configured = gateways(
        ProviderSettings.from_environment(
            {
                "STRIPE_API_KEY": "sk_test_local",
                "STRIPE_API_BASE": localstripe.url,
                "PAYPAL_CLIENT_ID": CLIENT_ID,
                "PAYPAL_CLIENT_SECRET": CLIENT_SECRET,
                "PAYPAL_API_BASE": paypal.url,
            }
        )
    )
    stripe = configured[PaymentProvider.STRIPE]
    customer = stripe.create_customer(Account(id="acct_cfg", email="ada@example.com"))
    method = stripe.save_payment_method(customer, card_setup(localstripe, customer, "pm_card_visa"))

    outcome = stripe.charge(
        ChargeRequest(f"cfg.{uuid4().hex}", Money(900, Currency.EUR), method.token, customer, "x")
    )

    assert outcome.status is ChargeStatus.SUCCEEDED
    start = configured[PaymentProvider.PAYPAL].start_update(Account("a", "a@example.com"), None)
    assert start.approval_url is not None
