"""The development routes (docs/local-stack.md), present only in the local stack (never in
template.yaml): tokens, the shared clock, a renewal run on demand, and what was sent (and what
the outbox still holds).

They are served like the API's own routes, through the local API Gateway and a Powertools
resolver with the API's error shape, so a bad request is answered as the API
answers one."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from billing.api.http import ID_PATTERN, AccountRole, api, api_router, documented, ok
from billing.domain.billing_calendar import format_instant, parse_instant
from billing.domain.errors import DomainError, ErrorCode
from devstack.api_gateway import Handler, Route
from devstack.clock import InvalidMove, StackClock
from devstack.outbox import Notice, SentEmail, StoredMessage
from devstack.renewals import RunSummary
from devstack.tokens import TokenIssuer

FUNCTION = "LocalDevelopmentRoutes"
"""The name the development routes are served under (no function of the template has it)."""
HANDLER = "devstack.development"
"""Their handler's name for the gateway; `load_handler` answers it with `handler`."""
TAG = "Development (local stack only)"
TOKEN_TTL = timedelta(days=3650)
"""Development tokens outlive any walk through time: the clock moves by months, and a token
expired by a clock move would only get in the way. Token expiry itself is tested in
tests/unit/devstack/test_tokens.py."""

_STRICT = ConfigDict(extra="forbid", frozen=True)
_Id = Annotated[str, Field(pattern=ID_PATTERN, max_length=100)]
_CENTURY = 36_525
"""Days in a century: the most any one move may take, in whatever unit."""
_Days = Annotated[float, Field(ge=0, le=_CENTURY, allow_inf_nan=False)]
_Hours = Annotated[float, Field(ge=0, le=_CENTURY * 24, allow_inf_nan=False)]
_Seconds = Annotated[float, Field(ge=0, le=_CENTURY * 86_400, allow_inf_nan=False)]


class TokenBody(BaseModel):
    """Who the token is for: a user of an account, its administrator (who alone sees and
    changes its billing) or a plain user, with Cognito groups (admin, sales, partner), and the
    partner a partner user acts for."""

    model_config = _STRICT

    account_id: _Id
    account_role: AccountRole = AccountRole.ADMIN
    groups: Annotated[list[str], Field(max_length=10)] = []
    partner_id: _Id | None = None


class TokenView(BaseModel):
    token: str
    account_id: str
    account_role: AccountRole
    groups: list[str]
    expires_at: str


class ClockBody(BaseModel):
    """Advance by ``days``, ``hours`` and ``seconds`` (added up), or set ``now``
    (``2026-01-31T09:30:00Z``); nothing at all reads the clock. It never moves back."""

    model_config = _STRICT

    days: _Days | None = None
    hours: _Hours | None = None
    seconds: _Seconds | None = None
    now: str | None = None

    @field_validator("now")
    @classmethod
    def _instant(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                parse_instant(value)
            except ValueError as error:
                raise ValueError("give an instant like 2026-01-31T09:30:00Z (UTC)") from error
        return value

    @model_validator(mode="after")
    def _one_way(self) -> ClockBody:
        if self.now is not None and self.delta:
            raise ValueError("give either now or a duration (days, hours, seconds), not both")
        return self

    @property
    def delta(self) -> timedelta:
        return timedelta(days=self.days or 0, hours=self.hours or 0, seconds=self.seconds or 0)


class ClockView(BaseModel):
    now: str


class RunView(BaseModel):
    processed: int
    """Renewal messages the worker carried out (every outcome, errors included)."""
    succeeded: int
    """Renewals and retries charged."""
    failed: int
    """Renewals and retries declined."""


class EmailView(BaseModel):
    sender: str
    to: list[str]
    subject: str
    body: str


class NoticeView(BaseModel):
    subject: str | None
    message: Any
    attributes: dict[str, str]


class MessageView(BaseModel):
    """A message of the outbox table: what a change owed someone, and what became of it."""

    id: str
    """The change that wrote it and its place in it."""
    account_id: str
    kind: str
    """``customer_email``, ``sales_notice`` or ``partner_email``."""
    name: str
    """The email template or the notice."""
    status: str
    """``pending`` (not sent yet), ``sent``, ``skipped`` (on purpose: the address bounced) or
    ``failed`` (could not be written)."""
    attempts: int
    """Sends started: more than one means a retry."""
    message_id: str | None
    """SES's or SNS's id of the message sent."""
    error: str | None
    created_at: str
    sent_at: str | None


class OutboxView(BaseModel):
    emails: list[EmailView]
    """Customer and partner emails SES sent, oldest first."""
    sales_notices: list[NoticeView]
    """Notices published to the sales team's topic, oldest first."""
    messages: list[MessageView]
    """The outbox table's messages, oldest first: the notify function sends each one after its
    change, from the table's stream (asynchronously: a message just written is still
    pending). Read before the emails and notices: a message shown sent is among them."""


@dataclass(frozen=True)
class Development:
    """What the development routes act on."""

    clock: StackClock
    issuer: TokenIssuer
    groups: frozenset[str]
    """The user pool's groups (template.yaml)."""
    run_renewals: Callable[[], RunSummary]
    emails: Callable[[], Sequence[SentEmail]]
    notices: Callable[[], Sequence[Notice]]
    messages: Callable[[], Sequence[StoredMessage]] = lambda: []
    settle: Callable[[], object] = lambda: None
    """Lets the asynchronous event sources (the outbox's stream) catch up at the current
    instant; called before the clock moves."""


def _invalid(field: str, code: str, message: str) -> DomainError:
    """A refusal of one field, in the shape of the API's validation errors."""
    return DomainError(
        ErrorCode.INVALID_FIELDS, details=[{"field": field, "code": code, "message": message}]
    )


def _move(development: Development, body: ClockBody) -> datetime:
    if body.now is not None or body.delta:
        # What the stream holds now is delivered now, as Lambda would within a second, not
        # after the move as if it had waited that long.
        development.settle()
    try:
        if body.now is not None:
            return development.clock.set(parse_instant(body.now))
        return development.clock.advance(body.delta)
    except InvalidMove as error:
        field = "now" if body.now is not None else "body"
        raise _invalid(field, "invalid_move", str(error)) from error


def _outbox(development: Development) -> OutboxView:
    # The messages first: the notify function marks a message sent after SES or SNS took it,
    # so every message this page shows as sent is among the emails and notices it shows.
    messages = [
        MessageView(
            id=m.id,
            account_id=m.account_id,
            kind=m.kind,
            name=m.name,
            status=m.status,
            attempts=m.attempts,
            message_id=m.message_id,
            error=m.error,
            created_at=m.created_at,
            sent_at=m.sent_at,
        )
        for m in development.messages()
    ]
    return OutboxView(
        emails=[
            EmailView(
                sender=email.source, to=email.recipients, subject=email.subject, body=email.body
            )
            for email in development.emails()
        ],
        sales_notices=[
            NoticeView(subject=n.subject, message=n.message, attributes=n.attributes)
            for n in development.notices()
        ],
        messages=messages,
    )


def routes() -> list[Route]:
    """The development routes, as the local API Gateway serves them: no authorizer."""
    return [
        Route(method, path, FUNCTION, HANDLER, authorized=False)
        for method, path in (
            ("POST", "/_dev/token"),
            ("POST", "/_dev/clock"),
            ("POST", "/_dev/renewals/run"),
            ("GET", "/_dev/outbox"),
        )
    ]


def router(development: Development) -> Any:
    """The development routes' Powertools router (also what the OpenAPI document reads)."""
    dev = api_router()

    @dev.post(
        "/_dev/token",
        summary="A token for Authorization: Bearer, as Cognito would issue it",
        tags=[TAG],
        responses=documented(200, TokenView),
    )
    def token(body: TokenBody) -> Response[Any]:
        unknown = sorted(set(body.groups) - development.groups)
        if unknown:
            raise _invalid(
                "groups",
                "unknown_group",
                f"No such group: {', '.join(unknown)}. The user pool has "
                f"{', '.join(sorted(development.groups))}.",
            )
        issued = development.issuer.issue(
            body.account_id,
            body.groups,
            account_role=body.account_role,
            partner_id=body.partner_id,
            ttl=TOKEN_TTL,
        )
        return ok(
            TokenView(
                token=issued,
                account_id=body.account_id,
                account_role=body.account_role,
                groups=body.groups,
                expires_at=format_instant(development.clock() + TOKEN_TTL),
            )
        )

    @dev.post(
        "/_dev/clock",
        summary="Move the clock every part of the stack reads",
        tags=[TAG],
        responses=documented(200, ClockView),
    )
    def clock(body: ClockBody) -> Response[Any]:
        return ok(ClockView(now=format_instant(_move(development, body))))

    @dev.post(
        "/_dev/renewals/run",
        summary="One renewal run now, its queue drained",
        tags=[TAG],
        responses=documented(200, RunView),
    )
    def run() -> Response[Any]:
        return ok(RunView.model_validate(asdict(development.run_renewals())))

    @dev.get(
        "/_dev/outbox",
        summary="Emails and sales notices sent, and the outbox's messages, oldest first",
        tags=[TAG],
        responses=documented(200, OutboxView),
    )
    def outbox() -> Response[Any]:
        return ok(_outbox(development))

    return dev


def handler(development: Development) -> Handler:
    """The development routes as one Lambda-style handler for the local API Gateway."""
    app = api(router(development))
    return app.resolve
