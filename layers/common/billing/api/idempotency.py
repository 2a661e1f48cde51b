"""`Idempotency-Key` on mutating routes (Powertools Idempotency): a repeated request gets the
first response, a request still running answers 409, a key reused for another body 422."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing import composition
from billing.api.http import (
    IDEMPOTENCY_KEY,
    JSON,
    TRANSIENT,
    Caller,
    current_caller,
    error_response,
    invalid_field,
)
from billing.domain.errors import DomainError

HEADER = IDEMPOTENCY_KEY
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
KEEP_RESPONSES = timedelta(hours=24)
"""How long a response is given back to a repeat: a client retrying later makes a new request."""


def idempotency_key(event: APIGatewayProxyEvent) -> str | None:
    """The request's Idempotency-Key, if any; invalid_fields when it is not a usable key."""
    key = event.headers.get(HEADER)  # Powertools matches header names case-insensitively
    if key is None:
        return None
    if not _KEY.fullmatch(key):
        raise invalid_field(
            HEADER,
            "invalid_idempotency_key",
            "Use 1 to 255 visible ASCII characters, e.g. a UUID.",
        )
    return key


def new_subscription_id(event: APIGatewayProxyEvent, *scope: str) -> str:
    """The id of a subscription a request opens: derived from its Idempotency-Key and `scope`
    (who asks, for whom), so that a repeat meets its own first charge instead of buying twice;
    random without a key."""
    key = idempotency_key(event)
    seed = uuid.uuid4().hex if key is None else ":".join((*scope, key))
    return f"sub_{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


class IdempotentRequests:
    """Runs a request once per (account, method, path, key) and keeps its final answer.

    Final answers are successes and refusals; transient ones (in progress elsewhere, provider
    or storage unavailable) are not kept, so a repeat runs the request again.
    """

    def __init__(
        self, persistence: BasePersistenceLayer, *, keep_responses: timedelta = KEEP_RESPONSES
    ) -> None:
        self._persistence = persistence
        self._config = IdempotencyConfig(
            event_key_jmespath="[account, method, path, key]",
            payload_validation_jmespath="body",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=int(keep_responses.total_seconds()),
        )

    def respond(
        self,
        event: APIGatewayProxyEvent,
        account_id: str,
        context: LambdaContext | None,
        produce: Callable[[], Response[Any]],
    ) -> Response[Any]:
        key = idempotency_key(event)
        if key is None:
            return produce()
        if context is not None:
            # Lets a request cut short by the function's timeout be retried at once.
            self._config.register_lambda_context(context)

        @idempotent_function(  # type: ignore[untyped-decorator]
            data_keyword_argument="request",
            persistence_store=self._persistence,
            config=self._config,
            key_prefix="api",
        )
        def run(request: dict[str, Any]) -> dict[str, Any]:
            try:
                response = produce()
            except DomainError as refused:
                if refused.code in TRANSIENT:
                    raise
                response = error_response(refused)
            return {"status": response.status_code, "body": response.body}

        stored = run(
            request={
                "account": account_id,
                "method": event.http_method,
                "path": event.path,
                "key": key,
                # The body as sent: parsing it again here would only add a way to fail.
                "body": event.body,
            }
        )
        return Response(stored["status"], JSON, stored["body"])


def once_per_key(
    router: APIGatewayRouter, produce: Callable[[Caller], Response[Any]]
) -> Response[Any]:
    """Run a mutating route for its caller once per Idempotency-Key: a repeat gets the first
    answer (see `IdempotentRequests`)."""
    who = current_caller(router)
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    return composition.root().idempotent_requests.respond(
        event, who.account_id, router.lambda_context, lambda: produce(who)
    )
