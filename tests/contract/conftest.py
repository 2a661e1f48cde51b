"""Each port's adapters side by side: the in-memory fake (marked unit: no socket, no process) and
the real adapters (marked integration: DynamoDB in moto, in-process; localstripe, the PayPal
stand-in and the VIES stand-in on loopback, one process each per session). A contract test
takes the port's fixture and runs once per adapter."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import boto3
import pytest
from moto import mock_aws

from billing.domain.accounts import PaymentProvider
from billing.persistence.dynamodb import DynamoDBRepository
from billing.persistence.repository import BillingRepository
from billing.settings import StorageSettings
from tests.contract.outboxes import MotoOutbox, Outbox, RecordedOutbox
from tests.contract.providers import (
    CardProviderUnderTest,
    FakeProvider,
    PayPalProvider,
    ProviderUnderTest,
    StripeProvider,
)
from tests.contract.vat_ids import CheckerUnderTest, FakeChecker, StandInChecker
from tests.fakes import InMemoryRepository
from tests.support.aws import create_tables
from tests.support.stand_ins import StandIn

SHARDS = 8
"""Partitions of the due and pending indexes: few, so that a handful of subscriptions fill them."""

FAKE = pytest.mark.unit
REAL = pytest.mark.integration


@pytest.fixture(scope="module")
def _dynamodb_tables() -> Iterator[dict[str, str]]:
    """moto (in-process) with every table of the template, for a module's tests: creating the
    tables costs more than a test, so each test empties them instead."""
    with mock_aws():
        yield create_tables(boto3.client("dynamodb", region_name="us-east-1"))


def empty_tables(tables: Mapping[str, str]) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    for table in tables.values():
        keys = [
            k["AttributeName"]
            for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]
        ]
        for item in dynamodb.scan(TableName=table)["Items"]:
            dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})


@pytest.fixture(
    params=[pytest.param("in_memory", marks=FAKE), pytest.param("dynamodb", marks=REAL)]
)
def repository(request: pytest.FixtureRequest) -> Iterator[BillingRepository]:
    if request.param == "in_memory":
        yield InMemoryRepository(shards=SHARDS)
        return
    tables: dict[str, str] = request.getfixturevalue("_dynamodb_tables")
    settings = StorageSettings.from_environment({**tables, "DUE_INDEX_SHARDS": str(SHARDS)})
    yield DynamoDBRepository(settings)
    empty_tables(tables)


@pytest.fixture(
    params=[
        pytest.param("fake-stripe", marks=FAKE),
        pytest.param("stripe", marks=REAL),
        pytest.param("fake-paypal", marks=FAKE),
        pytest.param("paypal", marks=REAL),
    ]
)
def provider(request: pytest.FixtureRequest) -> Iterator[ProviderUnderTest]:
    """A payment gateway and its test hooks; a real one's stand-in is reset after the test."""
    if request.param == "fake-stripe":
        yield FakeProvider(PaymentProvider.STRIPE)
    elif request.param == "fake-paypal":
        yield FakeProvider(PaymentProvider.PAYPAL)
    else:
        stand_in: StandIn = request.getfixturevalue(
            "_localstripe" if request.param == "stripe" else "_paypal"
        )
        try:
            yield (
                StripeProvider(stand_in) if request.param == "stripe" else PayPalProvider(stand_in)
            )
        finally:
            stand_in.reset()


@pytest.fixture(
    params=[pytest.param("fake-stripe", marks=FAKE), pytest.param("stripe", marks=REAL)]
)
def card_provider(request: pytest.FixtureRequest) -> Iterator[CardProviderUnderTest]:
    """A gateway saving cards from the setups customers confirm (Stripe's), and its hooks."""
    if request.param == "fake-stripe":
        yield FakeProvider(PaymentProvider.STRIPE)
        return
    localstripe: StandIn = request.getfixturevalue("_localstripe")
    try:
        yield StripeProvider(localstripe)
    finally:
        localstripe.reset()


@pytest.fixture(params=[pytest.param("recording", marks=FAKE), pytest.param("ses", marks=REAL)])
def outbox(request: pytest.FixtureRequest) -> Iterator[Outbox]:
    if request.param == "recording":
        yield RecordedOutbox()
        return
    with mock_aws():
        yield MotoOutbox()


@pytest.fixture(params=[pytest.param("fake-vies", marks=FAKE), pytest.param("vies", marks=REAL)])
def vat_id_checker(request: pytest.FixtureRequest) -> Iterator[CheckerUnderTest]:
    """A VAT ID checker and its test hooks; the VIES stand-in is made whole after the test."""
    if request.param == "fake-vies":
        yield FakeChecker()
        return
    stand_in: StandIn = request.getfixturevalue("_vies")
    try:
        yield StandInChecker(stand_in)
    finally:
        stand_in.reset()
        stand_in.delete("/_standin/unavailable")
