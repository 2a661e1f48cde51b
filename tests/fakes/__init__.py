"""In-memory fakes of the ports (storage, payment providers, notifications, the renewal queue),
each proven against its real adapter by the suites in tests/contract."""

from tests.fakes.gateway import Charge, FakeGateway
from tests.fakes.notifier import RecordingNotifier
from tests.fakes.renewal_queue import InMemoryRenewalQueue
from tests.fakes.repository import InMemoryRepository

__all__ = [
    "Charge",
    "FakeGateway",
    "InMemoryRenewalQueue",
    "InMemoryRepository",
    "RecordingNotifier",
]
