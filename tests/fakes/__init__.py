"""In-memory fakes of the ports (storage and its outbox, payment providers, notifications, the
renewal queue, the webhook events, VIES, the invoices' archive), each proven against its real
adapter by the suites in tests/contract; and the outbox's stream, as Lambda's event source
mapping reads it."""

from tests.fakes.archive import InMemoryDocumentArchive
from tests.fakes.gateway import Charge, FakeGateway
from tests.fakes.notifier import RecordingNotifier
from tests.fakes.outbox_stream import OutboxStream
from tests.fakes.renewal_queue import InMemoryRenewalQueue
from tests.fakes.repository import InMemoryRepository
from tests.fakes.vies import FakeVies
from tests.fakes.webhook_events import InMemoryWebhookEvents

__all__ = [
    "Charge",
    "FakeGateway",
    "FakeVies",
    "InMemoryDocumentArchive",
    "InMemoryRenewalQueue",
    "InMemoryRepository",
    "InMemoryWebhookEvents",
    "OutboxStream",
    "RecordingNotifier",
]
