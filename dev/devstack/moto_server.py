"""moto server as the tests and the local stack run it: one request at a time, DynamoDB
transactions rolled back item by item, SQS receives that do not recount the queue, memory that
holds the state and not every object ever made, and a route listing the emails SES sent
(`devstack.outbox.SENT_EMAILS`).

moto's backends are not thread-safe (its FAQ says so), yet its server answers every request on a
thread of its own: two DynamoDB transactions at once keep a cancelled one's writes, lose a
committed one's, or fail copying a table the other is writing (moto 5.2.5, the latest release;
docs/local-stack.md says why this stays). Here requests are answered one at a time.

Two of its costs also grow with the data, which a renewal run of thousands would feel: before
every transaction moto copies each table the transaction touches, so that it can put them back
on failure (here the items a transaction names are copied instead, and put back if it fails);
and for every message sent or considered by a receive, it computes all the queue's attributes,
which counts every message, only to read one setting (here the counts are skipped while a
message is sent, and a receive reads the retention period alone).

On a stack that runs for days, moto's memory grew without bound, by what it keeps for its own
inspection rather than as state: every object its models ever made (each DynamoDB item written,
read through a projection or copied for a rollback, each SQS message even once deleted, each
email), listed in a class-wide list for its dashboard's /moto-api/data.json; the receipt handle
of every SQS message ever deleted (so that deleting one twice succeeds); and every notice ever
published to a topic. Here nothing is listed for the dashboard, and queues and topics keep the
last `KEPT` handles and notices. A DynamoDB stream's shard iterators, which moto keeps forever (one
more per GetRecords), are kept as the last `KEPT` too: a reader uses the newest (a real one
expires after 15 minutes).

With ``--clock-file`` (the local stack's clock, `devstack.clock`), a DynamoDB stream record is
stamped with the stack's instant (``ApproximateCreationDateTime``), as a table in AWS stamps it
with the time of the write: the age Lambda's stream poller measures (``MaximumRecordAgeInSeconds``)
is then on the clock every other part reads. Without it, moto's own (the wall clock). Its
``awsRegion`` is the table's (moto writes us-east-1 whatever the region).

SES (v2) refuses an email sent with a configuration set that does not exist, as SES does (moto
accepts any name): a function given a wrong ``SES_CONFIGURATION_SET`` fails locally too.
"""

from __future__ import annotations

import argparse
import contextvars
import copy
import json
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC
from pathlib import Path
from typing import Any

import moto.dynamodb.models as dynamodb_models
from moto.core.common_models import BaseModel
from moto.core.exceptions import JsonRESTError
from moto.core.utils import unix_time
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from moto.ses.models import Message as Email
from moto.ses.models import ses_backends
from moto.sesv2.responses import SESV2Response
from moto.sns.models import Topic
from moto.sqs.models import Message, Queue, SQSBackend
from werkzeug.serving import run_simple

from devstack.clock import Clock, shared_clock
from devstack.outbox import SENT_EMAILS

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
KEPT = 1000
"""How many receipt handles of deleted messages a queue keeps, and notices a topic: the last."""


class _TablesByReference:
    """Stands in for `copy` inside moto's DynamoDB backend: the 'copy' of a table it keeps for a
    rollback is the table itself; `_transact_write_items` restores the items instead."""

    @staticmethod
    def deepcopy(value: Any, memo: dict[int, Any] | None = None) -> Any:
        return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_Saved = tuple[Table, DynamoType, DynamoType | None, Item | None]


def _saved(backend: DynamoDBBackend, transact_item: dict[str, Any]) -> _Saved | None:
    """The item a transaction's entry names, as it is now (None: absent)."""
    _, operation = next(iter(transact_item.items()))
    table = backend.tables.get(operation.get("TableName"))
    key = operation.get("Item") or operation.get("Key") or {}
    if table is None or table.hash_key_attr not in key:
        return None
    hash_value = DynamoType(key[table.hash_key_attr])
    range_value = None
    if table.range_key_attr is not None:
        if table.range_key_attr not in key:
            return None
        range_value = DynamoType(key[table.range_key_attr])
    current = table.get_item(hash_value, range_value)
    return table, hash_value, range_value, copy.deepcopy(current)


def _restore(saved: _Saved) -> None:
    table, hash_value, range_value, item = saved
    if range_value is None:
        if item is None:
            table.items.pop(hash_value, None)
        else:
            # moto keys a table without a range key like this too (its own type: ignore).
            table.items[hash_value] = item  # type: ignore[assignment]
    elif item is None:
        table.items[hash_value].pop(range_value, None)
    else:
        table.items[hash_value][range_value] = item


_moto_transact_write_items = DynamoDBBackend.transact_write_items


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    saved = [entry for item in transact_items if (entry := _saved(self, item)) is not None]
    try:
        _moto_transact_write_items(self, transact_items)
    except Exception:
        for entry in reversed(saved):
            _restore(entry)
        raise


TRANSACTION_PATCHES: tuple[tuple[Any, str, Any], ...] = (
    (dynamodb_models, "copy", _TablesByReference),
    (DynamoDBBackend, "transact_write_items", _transact_write_items),
)
"""(object, attribute, value): what makes moto's transactions put back the items they name when
they fail, instead of copying every table they touch, which slows each transaction to a crawl
once tables hold thousands of items. `application` sets them; a test of moto in its own process
sets them with pytest's monkeypatch."""


def _within_retention(self: SQSBackend, queue_name: str, message: Message) -> bool:
    # moto sets queue attributes with setattr, under their snake_case names.
    retention = int(getattr(self.get_queue(queue_name), "message_retention_period"))  # noqa: B009
    return bool(retention + message.sent_timestamp / 1000 > unix_time())  # type: ignore[operator]


_counting = contextvars.ContextVar("counting", default=True)
_COUNTS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _counted(name: str) -> property:
    count = getattr(Queue, name)

    def get(queue: Queue) -> int:
        return int(count.fget(queue)) if _counting.get() else 0

    return property(get)


_moto_send_message = SQSBackend.send_message


def _send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Message:
    # moto reads the queue's attributes here only for ContentBasedDeduplication.
    token = _counting.set(False)
    try:
        return _moto_send_message(self, *args, **kwargs)
    finally:
        _counting.reset(token)


def _with_sent_emails(app: WsgiApp) -> WsgiApp:
    """`app`, and `SENT_EMAILS`: what SES recorded of each email sent (``send_email``; the
    code makes no raw or templated sends), every account and region."""

    def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != SENT_EMAILS:
            return app(environ, start_response)
        sent = [
            vars(message)
            for regions in ses_backends.values()
            for backend in regions.values()
            for message in backend.sent_messages
            if isinstance(message, Email)
        ]
        body = json.dumps(sent).encode()
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return serve


def _untracked(cls: type[BaseModel], *args: Any, **kwargs: Any) -> BaseModel:
    """Replaces `BaseModel.__new__`, which lists every object made for moto's dashboard."""
    return super(BaseModel, cls).__new__(cls)


class _RecentHandles:
    """Stands in for a queue's receipt handles of deleted messages: the last `KEPT` only."""

    def __init__(self) -> None:
        self._handles: dict[str, None] = {}

    def __contains__(self, handle: object) -> bool:
        return handle in self._handles

    def update(self, handles: Iterable[str]) -> None:
        self._handles.update(dict.fromkeys(handles))
        while len(self._handles) > KEPT:
            del self._handles[next(iter(self._handles))]


_moto_queue_init = Queue.__init__


def _queue_init(self: Queue, *args: Any, **kwargs: Any) -> None:
    _moto_queue_init(self, *args, **kwargs)
    self.deleted_messages = _RecentHandles()  # type: ignore[assignment]


_moto_topic_init = Topic.__init__


def _topic_init(self: Topic, *args: Any, **kwargs: Any) -> None:
    _moto_topic_init(self, *args, **kwargs)
    self.sent_notifications = deque(maxlen=KEPT)  # type: ignore[assignment]


class _RecentIterators(dict[str, Any]):
    """Stands in for a streams backend's shard iterators: the last `KEPT` only."""

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        while len(self) > KEPT:
            del self[next(iter(self))]


_moto_streams_init = DynamoDBStreamsBackend.__init__


def _streams_init(self: DynamoDBStreamsBackend, *args: Any, **kwargs: Any) -> None:
    _moto_streams_init(self, *args, **kwargs)
    self.shard_iterators = _RecentIterators()


class _Stamp:
    clock: Clock | None = None
    """The stack's clock, when given: what stream records are stamped with."""


_moto_stream_record_init = StreamRecord.__init__


def _stream_record_init(self: StreamRecord, table: Table, *args: Any, **kwargs: Any) -> None:
    _moto_stream_record_init(self, table, *args, **kwargs)
    self.record["awsRegion"] = table.region_name
    if _Stamp.clock is not None:
        # moto's own instants are naive UTC.
        stamp = _Stamp.clock().astimezone(UTC).replace(tzinfo=None)
        self.record["dynamodb"]["ApproximateCreationDateTime"] = stamp


class _NotFound(JsonRESTError):
    code = 404


_moto_sesv2_send_email = SESV2Response.send_email


def _sesv2_send_email(self: SESV2Response) -> str:
    name = json.loads(self.body).get("ConfigurationSetName")
    if name is not None and name not in self.sesv2_backend.core_backend.config_sets:
        raise _NotFound("NotFoundException", f"Configuration set <{name}> does not exist.")
    return str(_moto_sesv2_send_email(self))


def _one_at_a_time(app: WsgiApp) -> WsgiApp:
    lock = threading.Lock()

    def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with lock:
            response = app(environ, start_response)
            try:
                return [b"".join(response)]
            finally:
                close = getattr(response, "close", None)
                if close is not None:
                    close()

    return serialized


def application(clock_file: Path | None = None) -> WsgiApp:
    """moto's server application, patched as the module docstring says; stream records stamped
    by the clock in `clock_file` when given."""
    _Stamp.clock = None if clock_file is None else shared_clock(clock_file)
    StreamRecord.__init__ = _stream_record_init  # type: ignore[method-assign]
    DynamoDBStreamsBackend.__init__ = _streams_init  # type: ignore[method-assign]
    SESV2Response.send_email = _sesv2_send_email  # type: ignore[method-assign]
    for target, name, value in TRANSACTION_PATCHES:
        setattr(target, name, value)
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
    SQSBackend.send_message = _send_message  # type: ignore[method-assign]
    for name in _COUNTS:
        setattr(Queue, name, _counted(name))
    BaseModel.__new__ = staticmethod(_untracked)  # type: ignore[method-assign]
    Queue.__init__ = _queue_init  # type: ignore[method-assign]
    Topic.__init__ = _topic_init  # type: ignore[method-assign]
    return _one_at_a_time(_with_sent_emails(DomainDispatcherApplication(create_backend_app)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5000)
    parser.add_argument(
        "--clock-file", type=Path, help="the local stack's clock: stamps stream records"
    )
    args = parser.parse_args()
    # A log line per request costs about a millisecond; errors are still logged.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    run_simple(
        args.host,
        args.port,
        application(args.clock_file),
        threaded=True,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
