"""The HTTP API as clients see it, in-process: the local API Gateway (routes from
template.yaml, Cognito-shaped claims from development tokens) in front of the real handlers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from billing import composition
from billing.api.http import AccountRole
from billing.changes import ChangeResult
from billing.domain.accounts import PaymentProvider
from billing.domain.charges import ChargeAttempt, ChargeStatus
from billing.domain.state_machine import SCHEDULER, account_audit
from billing.domain.subscription import ChargeKind
from devstack.api_gateway import GatewayResponse, LocalApiGateway
from devstack.tokens import TokenIssuer
from tests.support.localstripe import card_setup, confirm_setup
from tests.support.notifications import Outbox
from tests.support.stand_ins import StandIn

START = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
"""The first purchase of most tests: a month-end anchor."""


def fresh_account_id(name: str) -> str:
    """A fresh account id: localstripe lives for the whole session and replays requests whose
    idempotency keys (derived from account ids) it has seen before."""
    return f"{name}-{uuid.uuid4().hex[:10]}"


def expect_error(response: GatewayResponse, status: int, code: str) -> dict[str, Any]:
    """The API's error body of `response`, checked to have `status` and `code`."""
    assert response.status == status, response.body
    body: dict[str, Any] = response.json()
    assert set(body) == {"error"}
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}
    assert error["code"] == code
    assert error["message"]
    return error


@dataclass
class Clock:
    """The time every handler reads (billing.composition.clock) and tokens are checked against."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass(frozen=True)
class Client:
    """Requests as one caller, each with a token fresh at the clock's time (or none)."""

    gateway: LocalApiGateway
    sign_in: Callable[[], str] | None
    key_suffix: str = ""
    """Appended to every Idempotency-Key: subscription ids derive from the key, and localstripe
    (one per test session) would otherwise see one test's charge keys again in the next."""

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        key: str | None = None,
        headers: dict[str, str] | None = None,
        raw: str | None = None,
    ) -> GatewayResponse:
        sent = dict(headers or {})
        if self.sign_in is not None:
            sent.setdefault("Authorization", f"Bearer {self.sign_in()}")
        if key is not None:
            sent["Idempotency-Key"] = key + self.key_suffix
        if body is not None or raw is not None:
            sent.setdefault("Content-Type", "application/json")
        payload = raw if raw is not None else None if body is None else json.dumps(body)
        return self.gateway.invoke(method, path, headers=sent, body=payload)

    def get(self, path: str, **options: Any) -> GatewayResponse:
        return self.request("GET", path, **options)

    def post(self, path: str, body: Any = None, **options: Any) -> GatewayResponse:
        return self.request("POST", path, body, **options)

    def put(self, path: str, body: Any = None, **options: Any) -> GatewayResponse:
        return self.request("PUT", path, body, **options)


@dataclass
class Api:
    gateway: LocalApiGateway
    issuer: TokenIssuer
    outbox: Outbox
    clock: Clock
    localstripe: StandIn
    """Where the customer's card form confirms the SetupIntents the API starts."""
    key_suffix: str = field(default_factory=lambda: f"-{uuid.uuid4().hex[:8]}")
    _keys: int = field(default=0)

    def customer(self, account_id: str, role: AccountRole | None = AccountRole.ADMIN) -> Client:
        """A user of the account: its administrator, who manages its billing, unless `role`
        says otherwise (`AccountRole.USER`, or None for a token without the role claim)."""
        return Client(
            self.gateway,
            lambda: self.issuer.issue(account_id, account_role=role),
            self.key_suffix,
        )

    def staff(self, role: str, *, partner_id: str | None = None) -> Client:
        return Client(
            self.gateway,
            lambda: self.issuer.issue(f"{role}-1", [role], partner_id=partner_id),
            self.key_suffix,
        )

    @property
    def anonymous(self) -> Client:
        return Client(self.gateway, None, self.key_suffix)

    def open_account(
        self,
        account_id: str,
        *,
        locale: str = "en",
        domain_zone: str = "com",
        partner: dict[str, str] | None = None,
    ) -> Client:
        """An account created by an admin; returns its customer's client."""
        body: dict[str, Any] = {
            "email": f"{account_id}@example.com",
            "locale": locale,
            "domain_zone": domain_zone,
        }
        if partner is not None:
            body |= {"channel": "partner", "partner": partner}
        created = self.staff("admin").put(f"/admin/accounts/{account_id}", body)
        assert created.status == 201, created.body
        return self.customer(account_id)

    def save_card(
        self, client: Client, payment_method: str = "pm_card_visa", *, authenticate: bool = False
    ) -> GatewayResponse:
        """The card form's flow: the setup started through the API, its SetupIntent confirmed
        at localstripe with `payment_method` (the bank's 3-D Secure check passed when the card
        asks for one and `authenticate`), then saved."""
        setup = self.start_card_setup(client)
        confirm_setup(self.localstripe, setup, payment_method, authenticate=authenticate)
        return client.put(
            "/account/payment-method", {"provider": "stripe", "setup_intent_id": setup}
        )

    @staticmethod
    def start_card_setup(client: Client) -> str:
        """The SetupIntent of the card setup the customer starts, for the card form."""
        started = client.post("/account/payment-method/setup", {"method": "card"})
        assert started.status == 200, started.body
        assert started.json()["flow"] == "card_form", started.body
        setup: str = started.json()["reference"]
        return setup

    def card_saved_quietly(self, account_id: str) -> None:
        """A working card saved on the account without the retry a customer's update makes: as
        when their bank lifted a block."""
        root = composition.root()
        account = root.repository.get_account(account_id)
        customer = account.stripe_customer_id
        assert customer is not None
        setup = card_setup(self.localstripe, customer, "pm_card_visa")
        method = root.gateways[PaymentProvider.STRIPE].save_payment_method(customer, setup)
        root.repository.save_account(replace(account, payment_method=method))

    def account_trail(self, account_id: str) -> list[dict[str, Any]]:
        """Everything recorded about the account, oldest first, as sales reads it."""
        answer = self.staff("sales").get(f"/admin/accounts/{account_id}/events")
        assert answer.status == 200, answer.body
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def buy(self, client: Client, **order: Any) -> GatewayResponse:
        self._keys += 1
        body = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"} | order
        return client.post("/subscriptions", body, key=f"purchase-{self._keys}")

    def renew(self, subscription_id: str, account_id: str) -> ChangeResult:
        """What the renewal schedule does for one subscription at the clock's time: the charge
        operation's renewal (its emails and notices go to the outbox with it)."""
        return composition.root().charging.renew(subscription_id, account_id)

    def subscribed(self, account_id: str, **order: Any) -> tuple[Client, str]:
        """An account that bought a monthly plan with a working card at START."""
        client = self.open_account(account_id)
        assert self.save_card(client).status == 200
        bought = self.buy(client, **order)
        assert bought.status == 201, bought.body
        return client, str(bought.json()["id"])

    def past_due(self, account_id: str) -> tuple[Client, str]:
        """An account whose first renewal was declined (card_declined): past due since the
        end of its first period, the clock at that instant."""
        client, sub_id = self.subscribed(account_id)
        assert self.save_card(client, "pm_card_chargeCustomerFail").status == 200
        self.clock.now = datetime.fromisoformat(
            client.get(f"/subscriptions/{sub_id}").json()["current_period_end"]
        )
        assert self.renew(sub_id, account_id).subscription.status.value == "past_due"
        return client, sub_id

    def claim_next_attempt(self, subscription_id: str, account_id: str) -> ChargeAttempt:
        """Another caller (the scheduler's retry) has claimed the subscription's next charge
        attempt, at the clock's time, and is still waiting on the provider."""
        repository = composition.root().repository
        sub = repository.get_subscription(subscription_id)
        method = repository.get_account(account_id).payment_method
        attempt = ChargeAttempt(
            subscription_id=subscription_id,
            account_id=account_id,
            cycle=sub.cycle + 1,
            attempt=sub.charge_attempts + 1,
            kind=ChargeKind.RETRY,
            amount=sub.next_cycle_price,
            status=ChargeStatus.PENDING,
            created_at=self.clock.now,
            requested_by=SCHEDULER,
            provider=None if method is None else method.provider,
            payment_method_id=None if method is None else method.token,
        )
        requested = account_audit(SCHEDULER, "charge_requested", self.clock.now, {})
        repository.claim(attempt, requested)
        return attempt
