"""The renewal run and the HTTP API in this process, against moto server (DynamoDB, SQS, SES,
SNS, every resource created from template.yaml), localstripe and the PayPal stand-in, with one
clock for handlers, dispatcher and worker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from billing import composition
from devstack.api_gateway import LocalApiGateway, routes_from_template
from devstack.event_sources import poller_for
from devstack.resources import LocalResources, create_resources, environment
from devstack.tokens import TokenIssuer, generate_secret
from tests.support.api import Api, Clock
from tests.support.aws import template
from tests.support.moto_server import MotoServer
from tests.support.notifications import NOTIFY, open_server_outbox, outbox_stream
from tests.support.renewals import DISPATCHER, WORKER, RenewalSchedule
from tests.support.stand_ins import StandIn, provider_environment


@pytest.fixture
def clock() -> Clock:
    return Clock()


@dataclass(frozen=True)
class Stack:
    resources: LocalResources
    environment: dict[str, str]


@pytest.fixture
def stack(
    moto: MotoServer,
    localstripe: StandIn,
    paypal: StandIn,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Stack]:
    """Every template resource in moto server; the functions' environment as Lambda would set
    it (payment providers set directly, as in the local stack); the runtime's clock."""
    resources = create_resources(
        template(),
        dynamodb=moto.client("dynamodb"),
        sqs=moto.client("sqs"),
        sns=moto.client("sns"),
        sesv2=moto.client("sesv2"),
    )
    variables = {
        **environment(template(), DISPATCHER, resources),
        **environment(template(), WORKER, resources),
        **environment(template(), NOTIFY, resources),
        "AWS_ENDPOINT_URL": moto.url,
        "DYNAMODB_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        **provider_environment(localstripe, paypal),
    }
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(composition, "clock", clock)
    composition.install()
    yield Stack(resources, variables)
    composition.install()


@pytest.fixture
def schedule(moto: MotoServer, stack: Stack) -> RenewalSchedule:
    """The renewal run; `stack` points the runtime clock, which it reads, at the test's."""
    return RenewalSchedule(poller_for(template(), WORKER, moto.client("sqs"), stack.resources))


@pytest.fixture
def api(moto: MotoServer, stack: Stack, clock: Clock, localstripe: StandIn) -> Api:
    outbox = open_server_outbox(
        moto.url,
        stack.environment["EMAIL_SENDER"],
        stack.environment["SALES_TOPIC_ARN"],
        outbox_stream(moto.client, stack.resources).drain,
    )
    issuer = TokenIssuer(generate_secret(), clock=clock)
    gateway = LocalApiGateway(routes_from_template(template()), verifier=issuer.verify, clock=clock)
    return Api(gateway, issuer, outbox, clock, localstripe)
