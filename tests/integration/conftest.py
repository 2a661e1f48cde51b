"""DynamoDB in moto (in-process), tables created from template.yaml, one set per test; the
payment providers' stand-ins on loopback, one process each per session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws

from billing import composition
from billing.persistence.dynamodb import DynamoDBRepository
from billing.providers.paypal_gateway import PayPalGateway
from billing.providers.retry import RetryPolicy
from billing.providers.stripe_gateway import StripeGateway
from billing.settings import StorageSettings
from devstack.api_gateway import LocalApiGateway, routes_from_template
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.tokens import TokenIssuer, generate_secret
from tests.support.api import Api, Clock
from tests.support.aws import (
    DynamoDBFaults,
    DynamoDBRequests,
    create_buckets,
    create_tables,
    on_dynamodb_call,
    record_dynamodb_requests,
    template,
)
from tests.support.moto_server import MotoServer, moto_server
from tests.support.notifications import in_process_client, open_outbox, outbox_stream
from tests.support.sleeps import Sleeps
from tests.support.stand_ins import (
    STRIPE_PUBLISHABLE_KEY,
    STRIPE_WEBHOOK_SECRET,
    StandIn,
    provider_environment,
)
from tests.support.webhooks import Webhooks, paypal_webhook, receiving, stripe_endpoint


@pytest.fixture
def dynamodb_requests() -> Iterator[DynamoDBRequests]:
    with record_dynamodb_requests() as recorder:
        yield recorder


@pytest.fixture
def dynamodb_faults() -> Iterator[DynamoDBFaults]:
    with on_dynamodb_call(faults := DynamoDBFaults()):
        yield faults


@pytest.fixture
def aws_environment(
    dynamodb_requests: DynamoDBRequests, dynamodb_faults: DynamoDBFaults
) -> Iterator[dict[str, str]]:
    """moto (in-process) for the test, with every table and bucket of the template; their
    settings."""
    with mock_aws():
        environment = create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        buckets = create_buckets(boto3.client("s3", region_name="us-east-1"))
        yield {**environment, **buckets, "DUE_INDEX_SHARDS": "8"}


@pytest.fixture
def storage_settings(aws_environment: dict[str, str]) -> StorageSettings:
    return StorageSettings.from_environment(aws_environment)


@pytest.fixture
def repository(
    storage_settings: StorageSettings, dynamodb_requests: DynamoDBRequests
) -> DynamoDBRepository:
    repository = DynamoDBRepository(storage_settings)
    dynamodb_requests.clear()
    return repository


@pytest.fixture
def localstripe(_localstripe: StandIn) -> Iterator[StandIn]:
    """localstripe for the session; faults and the request log are cleared after each test."""
    yield _localstripe
    _localstripe.reset()


@pytest.fixture
def paypal(_paypal: StandIn) -> Iterator[StandIn]:
    """The PayPal stand-in for the session; faults and the request log cleared per test."""
    yield _paypal
    _paypal.reset()


@pytest.fixture
def vies(_vies: StandIn) -> Iterator[StandIn]:
    """The VIES stand-in for the session; faults, the request log and the member states made
    unavailable cleared per test (the numbers registered stay: tests register fresh ones)."""
    yield _vies
    _vies.reset()
    _vies.delete("/_standin/unavailable")


@pytest.fixture(scope="session")
def _moto_server() -> Iterator[MotoServer]:
    with moto_server() as server:
        yield server


@pytest.fixture
def moto(_moto_server: MotoServer) -> Iterator[MotoServer]:
    """moto server (as the local stack runs it) for the session, emptied after each test."""
    yield _moto_server
    _moto_server.reset()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def stripe_gateway(localstripe: StandIn, sleeps: Sleeps) -> StripeGateway:
    return StripeGateway(
        "sk_test_local",
        publishable_key=STRIPE_PUBLISHABLE_KEY,
        api_base=localstripe.url,
        timeout=1.0,
        retry=RetryPolicy(sleep=sleeps),
    )


@pytest.fixture
def paypal_gateway(paypal: StandIn, sleeps: Sleeps) -> PayPalGateway:
    return PayPalGateway(
        CLIENT_ID,
        CLIENT_SECRET,
        api_base=paypal.url,
        return_url="http://127.0.0.1:3000/paypal/return",
        cancel_url="http://127.0.0.1:3000/paypal/cancel",
        timeout=1.0,
        retry=RetryPolicy(sleep=sleeps),
    )


SENDER = "billing@example.com"
SALES_CONTACT = {"email": "sales@billing.example", "chat_url": "https://billing.example/chat"}
"""How the API's answers and emails tell customers to reach sales."""


@pytest.fixture
def api(
    aws_environment: dict[str, str],
    localstripe: StandIn,
    paypal: StandIn,
    vies: StandIn,
    dynamodb_requests: DynamoDBRequests,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    """The whole HTTP API in-process: local API Gateway, real handlers, moto, localstripe, the
    PayPal stand-in and the VIES stand-in, with the handlers' clock under the test's control;
    NotifyFunction sends the outbox from its stream whenever the test reads what was sent."""
    outbox = open_outbox(SENDER)
    environment = aws_environment | {
        "EMAIL_SENDER": SENDER,
        "SALES_TOPIC_ARN": outbox.settings.sales_topic_arn,
        "SALES_CONTACT_EMAIL": SALES_CONTACT["email"],
        "SALES_CHAT_URL": SALES_CONTACT["chat_url"],
        **provider_environment(localstripe, paypal),
        "VIES_API_BASE": vies.url,
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    clock = Clock()
    monkeypatch.setattr(composition, "clock", clock)
    composition.install()
    stream = outbox_stream(in_process_client)
    outbox = replace(outbox, deliver=stream.drain)
    issuer = TokenIssuer(generate_secret(), clock=clock)
    gateway = LocalApiGateway(routes_from_template(template()), verifier=issuer.verify, clock=clock)
    dynamodb_requests.clear()
    yield Api(gateway, issuer, outbox, clock, localstripe)
    composition.install()


@pytest.fixture
def webhooks(
    api: Api, localstripe: StandIn, paypal: StandIn, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Webhooks]:
    """Both stand-ins delivering to a loopback endpoint, the API verifying with the secret and
    the PayPal webhook id they were registered with."""
    with (
        receiving() as receiver,
        stripe_endpoint(localstripe, receiver, STRIPE_WEBHOOK_SECRET),
        paypal_webhook(paypal, receiver) as webhook_id,
    ):
        monkeypatch.setenv("PAYPAL_WEBHOOK_ID", webhook_id)
        composition.install()
        yield Webhooks(api, receiver, localstripe, paypal)
