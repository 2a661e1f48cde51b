"""The outbox end to end on the real parts: a customer's request over HTTP commits its change
with the email it owes into DynamoDB (moto), the table's stream feeds NotifyFunction's handler
as Lambda's event source mapping does (`devstack.event_sources.StreamPoller`), and the handler
sends through SES (moto) and marks the message. Faults are injected where they happen: SES
answering TooManyRequests, the function dying between SES's answer and the sent mark, and the
stream's records delivered again. The same faults, at length, on the fakes:
tests/orchestration/test_outbox.py."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import boto3
import botocore.handlers
from botocore.exceptions import ClientError

from billing import composition
from billing.delivery import STALE
from billing.domain.outbox import LEASE, OutboxStatus
from devstack.api_gateway import LocalLambdaContext, import_handler
from tests.support.api import Api, Client
from tests.support.aws import DynamoDBFaults
from tests.support.notifications import in_process_client, outbox_stream

CANCELLED = "Your Basic subscription is cancelled"
NOTIFY = "notify.handler.lambda_handler"


class Crash(Exception):
    """The function dies here: its invocation fails and Lambda retries the batch."""


@contextmanager
def before_sending(action: Callable[[], None]) -> Iterator[None]:
    """Run `action` before every SES SendEmail of the clients created meanwhile, in a new
    process as far as boto3 knows (a session of its own, which takes the handler)."""
    entry = ("before-call.sesv2.SendEmail", lambda **_: action())
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    session, boto3.DEFAULT_SESSION = boto3.DEFAULT_SESSION, None
    try:
        composition.install()
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        boto3.DEFAULT_SESSION = session
        composition.install()


def _throttled() -> ClientError:
    return ClientError(
        {"Error": {"Code": "TooManyRequestsException", "Message": "Maximum sending rate"}},
        "SendEmail",
    )


def _cancelled(api: Api, name: str) -> tuple[Client, str]:
    """A past-due customer who cancels: owed one email, written in the outbox, not sent."""
    client, sub_id = api.past_due(f"outbox-{name}")
    api.outbox.emails  # noqa: B018 - what the past due state owed is sent first
    answer = client.post(f"/subscriptions/{sub_id}/cancel", key=f"cancel-{name}")
    assert answer.status == 200, answer.body
    return client, f"outbox-{name}@example.com"


def _received(api: Api, address: str) -> int:
    return sum(
        1
        for email in api.outbox.emails
        if email.subject == CANCELLED and address in email.recipients
    )


def _pending() -> int:
    """The outbox's messages still pending, read from its unsent index."""
    store, shards = composition.root().outbox, composition.root().repository.shards()
    later = composition.now() + timedelta(days=1)
    return sum(1 for shard in shards for _ in store.unsent_in_shard(shard, later))


def _sweep(api: Api) -> Any:
    """The scheduled sweep, once a message left pending is stale."""
    api.clock.advance(seconds=(LEASE + STALE).total_seconds() + 1)
    handler = import_handler(NOTIFY)
    return handler({"source": "aws.scheduler"}, LocalLambdaContext.for_function("NotifyFunction"))


def test_the_cancel_answers_before_its_email_is_sent(api: Api) -> None:
    client, sub_id = api.past_due("outbox-first")
    stream = outbox_stream(in_process_client)
    stream.drain()

    answer = client.post(f"/subscriptions/{sub_id}/cancel", key="cancel-first")

    assert answer.status == 200
    assert _pending() == 1, "written with the change, not sent"
    report = stream.drain()
    assert report.invocations == 1
    assert _received(api, "outbox-first@example.com") == 1
    assert _pending() == 0


def test_ses_throttling_is_backed_off_then_retried_from_the_failed_record(api: Api) -> None:
    _, address = _cancelled(api, "throttled")
    refusals = iter(range(6))

    def throttle() -> None:
        if next(refusals, None) is not None:
            raise _throttled()

    with before_sending(throttle):
        report = outbox_stream(in_process_client).drain()

    assert report.failed_invocations == 1, "four tries in the first invocation, then deferred"
    assert _received(api, address) == 1
    assert _pending() == 0


def test_a_crash_after_sending_and_before_the_mark_sends_it_again_once(
    api: Api, dynamodb_faults: DynamoDBFaults
) -> None:
    _, address = _cancelled(api, "crashed")
    crashes = iter([1])

    def crash_at_the_mark(request: Mapping[str, Any]) -> None:
        """The sent mark: an update of the outbox that sets ``sent`` (taking it adds to its
        attempts instead; giving it back sets no status)."""
        marks_sent = (
            request["TableName"].endswith("OutboxTable")
            and "ADD" not in request["UpdateExpression"]
            and {"S": OutboxStatus.SENT.value} in request["ExpressionAttributeValues"].values()
        )
        if marks_sent and next(crashes, None) is not None:
            raise Crash

    dynamodb_faults.before["UpdateItem"] = crash_at_the_mark
    report = outbox_stream(in_process_client).drain()
    del dynamodb_faults.before["UpdateItem"]

    assert report.handler_errors == ["Crash()"]
    assert _received(api, address) == 1, "sent once; the retries within the lease leave it"
    assert _pending() == 1, "not marked: still owed, as far as we know"

    assert _sweep(api)["sent"] == {"sent": 1}
    assert _received(api, address) == 2, "the one documented duplicate"
    assert _pending() == 0


def test_stream_records_delivered_again_send_nothing_twice(api: Api) -> None:
    _, address = _cancelled(api, "redelivered")
    outbox_stream(in_process_client).drain()

    again = outbox_stream(in_process_client).drain()  # a mapping reading the stream from the start

    assert again.invocations >= 1
    assert _received(api, address) == 1
    assert _sweep(api)["sent"] == {}
