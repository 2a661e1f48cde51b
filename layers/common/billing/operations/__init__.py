"""What the API functions do, one operation per request: thin handlers call these."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from billing.domain.accounts import Account
from billing.domain.state_machine import Effect


class Notifications(Protocol):
    """Sends the emails and notices a change calls for, once it is written."""

    def deliver(self, account: Account, effects: Iterable[Effect]) -> object: ...
