"""What a refused request must not have reached behind the API's edge."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from tests.support.api import Api
from tests.support.aws import DynamoDBRequests
from tests.support.stand_ins import StandIn


@dataclass(frozen=True)
class Reached:
    """The requests sent past the API's edge: to DynamoDB (every operation, and the
    Idempotency-Key records, start there), to Stripe and PayPal, and the emails sent."""

    api: Api
    dynamodb: DynamoDBRequests
    providers: tuple[StandIn, ...]

    def _elsewhere(self) -> tuple[int, ...]:
        sent = (len(p.get(f"{p.control}/requests")) for p in self.providers)
        return (*sent, len(self.api.outbox.emails))

    @contextmanager
    def nothing(self) -> Iterator[None]:
        """The requests made in the block reach no operation: no DynamoDB request at all, no
        provider call, no email."""
        before = self._elsewhere()  # first: reading the emails lets the outbox send its own
        self.dynamodb.clear()
        yield
        assert self.dynamodb.operations == []
        assert self._elsewhere() == before


@pytest.fixture
def reached(
    api: Api, dynamodb_requests: DynamoDBRequests, localstripe: StandIn, paypal: StandIn
) -> Reached:
    return Reached(api, dynamodb_requests, (localstripe, paypal))
