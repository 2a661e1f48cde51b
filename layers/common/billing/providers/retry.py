"""Retrying a provider call on 429 and 5xx, with capped exponential backoff and `Retry-After`.

Both adapters use it: they turn their SDK's transient errors into `TransientFailure`, and every
retry re-sends the same idempotency key, so a retried charge is still one charge.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from billing.domain.values import frozen
from billing.providers.gateway import ProviderUnavailable


class TransientFailure(Exception):
    """A response worth retrying: rate limited (429) or a server error (5xx)."""

    def __init__(self, status: int, message: str, retry_after: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def _retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """`Retry-After` as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0)


@frozen
class RetryPolicy:
    attempts: int = 3
    """Calls in all, the first included."""
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 20.0
    """A longer `Retry-After` is capped: the caller's own deadline matters more."""
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def delay(self, retry: int, retry_after: str | None) -> float:
        """Seconds to wait before retry number `retry` (1-based)."""
        asked = _retry_after_seconds(retry_after, datetime.now(UTC))
        if asked is not None:
            return min(asked, self.max_retry_after)
        backoff = min(self.base_delay * 2 ** (retry - 1), self.max_delay)
        return random.uniform(backoff / 2, backoff)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a retry policy makes at least one call")

    def call[T](self, request: Callable[[], T]) -> T:
        """`request()`, retried on TransientFailure; ProviderUnavailable once retries run out."""
        for retry in range(1, self.attempts):
            try:
                return request()
            except TransientFailure as failure:
                self.sleep(self.delay(retry, failure.retry_after))
        try:
            return request()
        except TransientFailure as failure:
            raise ProviderUnavailable(
                f"provider still failing after {self.attempts} calls: {failure}",
                str(failure.status),
                maybe_processed=failure.status >= 500,
            ) from failure
