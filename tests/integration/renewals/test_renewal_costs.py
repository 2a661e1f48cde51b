"""The counted figures of the benchmark (`bench/renewals.py`), kept by the test suite: what one
renewal sends to DynamoDB, SQS, SES and the provider, and the capacity units it consumes,
whatever its outcome. Counts only; the timed figures are `make bench`'s."""

from __future__ import annotations

import pytest

from bench.renewals import CARDS, renewal_costs
from bench.stack import BenchStack
from billing import composition
from tests.integration.renewals.conftest import Stack
from tests.support.api import Clock
from tests.support.moto_server import MotoServer
from tests.support.stand_ins import StandIn

RENEWALS = 10


@pytest.mark.usefixtures("api")  # the API's sender is the one renewal emails come from
@pytest.mark.parametrize("outcome", sorted(CARDS))
def test_a_renewal_costs_three_dynamodb_requests_and_one_charge(
    moto: MotoServer, localstripe: StandIn, stack: Stack, clock: Clock, outcome: str
) -> None:
    costs = renewal_costs(BenchStack(moto, localstripe, stack.resources, clock), outcome, RENEWALS)

    # Read subscription and account together, claim the attempt (with the request in the
    # account's trail), write the outcome (state, attempt, audit, and a succeeded charge's
    # invoice) in one transaction. The invoice sequence's head is read once per process (counted
    # apart): its next number is known from then on, the worker's threads taking it in turn.
    assert costs.dynamodb == {"TransactGetItems": RENEWALS, "TransactWriteItems": 2 * RENEWALS}
    assert costs.head_reads == (1 if outcome == "successful" else 0)
    # Two items read in a transaction: 2 units each. The claim: 2 for each of its 2 items, and
    # 1 for its entry in the pending index. The transaction: 2 for each of its 4 items (the
    # email in the outbox among them); the due-index entry moves (2), the pending-index entry
    # goes (1), the account index's copy changes (1), the email enters the unsent index (1).
    # A succeeded charge's transaction also puts its invoice and the sequence's head (2 each);
    # the head's one read is consistent (1).
    invoiced = outcome == "successful"
    assert (costs.read_units, costs.write_units) == (
        4 * RENEWALS + invoiced,
        (22 if invoiced else 18) * RENEWALS,
    )
    assert costs.provider_calls == RENEWALS, "one charge each, nothing looked up"
    # Sending the email, from the outbox's stream: take it (1 unit), read its account (1),
    # send it, mark it sent (1, and 1 for leaving the unsent index).
    assert costs.delivery == {"UpdateItem": 2 * RENEWALS, "GetItem": RENEWALS}
    assert (costs.delivery_read_units, costs.delivery_write_units) == (RENEWALS, 3 * RENEWALS)
    assert costs.notifications == {"ses:SendEmail": RENEWALS}, "one email each, no notice"
    # The run's messages are sent in batches (one or more per shard reader that found some),
    # received and deleted ten at a time.
    assert costs.sqs["SendMessageBatch"] <= RENEWALS
    assert (costs.sqs["ReceiveMessage"], costs.sqs["DeleteMessageBatch"]) == (1, 1)
    assert costs.run_queries == 2 * len(composition.root().repository.shards()), (
        "each shard, both indexes"
    )
