"""The payment gateways under the gateway contract, each with what a test needs of it beside the
port: a saved method that pays, declines or must be replaced, a token the provider refuses to
save, a card setup the customer confirms (3-D Secure passed or failed), faults at the provider,
the money it took for a key, and what the provider's side does after a charge (a refund on its
dashboard, a dispute opened and decided, a card replaced by the card network's updater, a saved
method removed). The fakes play each provider; the real adapters meet localstripe and the PayPal
stand-in."""

from __future__ import annotations

import urllib.error
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from typing import Any, Literal, Protocol
from uuid import uuid4

from billing.domain.accounts import Account, PaymentMethod, PaymentProvider
from billing.domain.failures import FailureReason
from billing.domain.money import Money
from billing.providers.gateway import PaymentGateway, ProviderError
from billing.providers.paypal_gateway import LOOKUP_WINDOW, PayPalGateway
from billing.providers.retry import RetryPolicy
from billing.providers.stripe_gateway import CHARGE_KEY, StripeGateway
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from tests.fakes import FakeGateway
from tests.support.localstripe import (
    authenticate,
    authenticate_setup,
    card_setup,
    confirm_setup,
    declined_on_attach,
    payment_intents,
    stripe_client,
)
from tests.support.paypal import paypal_api
from tests.support.sleeps import Sleeps
from tests.support.stand_ins import STRIPE_PUBLISHABLE_KEY, StandIn

Operation = Literal["charge", "find_charge"]

TIMEOUT = 1.0
"""The real gateways' client timeout; an unanswered call is delayed half as long again."""


class Method(StrEnum):
    """How charges of a saved payment method end."""

    PAYS = "pays"
    DECLINED = "declined"
    """A soft decline: the same method may pay later."""
    INVALID = "invalid"
    """The method must be replaced."""
    AUTHENTICATES = "authenticates"
    """The bank asks the customer to authenticate every charge (3-D Secure)."""


@dataclass(frozen=True)
class Traits:
    """Where the providers differ behind the port: both adapters and the fake playing them."""

    codes: dict[Method, str]
    """The provider's code for each kind of decline."""
    refusal: FailureReason
    """Why the method `refused()` names is not saved."""
    finds_declines: bool
    """A declined charge is found with its reason (Stripe's PaymentIntent keeps it), or not at
    all (PayPal's order stays uncaptured)."""
    lookup_window: timedelta | None
    """How long after the claim a charge can still be looked up (PayPal forgets request ids)."""
    updates_cards: bool
    """Saved methods are cards the card network's updater may replace (Stripe's, not PayPal's
    wallets)."""
    asks_authentication: bool
    """A payment may wait for the customer to authenticate it with their bank (Stripe's cards;
    PayPal's payer approved the vault once and is never asked again)."""


TRAITS = {
    PaymentProvider.STRIPE: Traits(
        codes={Method.DECLINED: "card_declined", Method.INVALID: "expired_card"},
        refusal=FailureReason.CARD_DECLINED,
        finds_declines=True,
        lookup_window=None,
        updates_cards=True,
        asks_authentication=True,
    ),
    PaymentProvider.PAYPAL: Traits(
        codes={
            Method.DECLINED: "INSTRUMENT_DECLINED",
            Method.INVALID: "AGREEMENT_ALREADY_CANCELLED",
        },
        refusal=FailureReason.PAYMENT_METHOD_INVALID,
        finds_declines=False,
        lookup_window=LOOKUP_WINDOW,
        updates_cards=False,
        asks_authentication=False,
    ),
}

REASONS = {
    Method.DECLINED: FailureReason.CARD_DECLINED,
    Method.INVALID: FailureReason.PAYMENT_METHOD_INVALID,
}


def new_account() -> Account:
    """A fresh account: the stand-ins live for the session and remember every key."""
    return Account(id=f"acct_{uuid4().hex[:10]}", email="ada@example.com")


class ProviderUnderTest(Protocol):
    @property
    def gateway(self) -> PaymentGateway: ...

    @property
    def traits(self) -> Traits: ...

    @property
    def customer(self) -> str | None:
        """The account's customer at the provider, for its charges (Stripe's; PayPal needs
        none)."""
        ...

    @property
    def real(self) -> bool: ...

    @property
    def account(self) -> Account:
        """The account the customer and every method saved by `method` belong to."""
        ...

    def method(self, kind: Method = Method.PAYS) -> PaymentMethod:
        """A payment method saved for the customer, whose charges end as `kind` says."""
        ...

    def refused(self) -> str:
        """A token the provider will not save (for `traits.refusal`)."""
        ...

    def fail(self, status: int, *, times: int, operation: Operation = "charge") -> None:
        """The next `times` requests of `operation` answer `status` (429, 5xx)."""
        ...

    def unanswered(self, *, after_charging: bool) -> None:
        """The next charge gets no answer in time, made meanwhile or not."""
        ...

    def taken(self, key: str) -> int:
        """How many times money was taken with `key`."""
        ...

    def refund_at_provider(self, reference: str, amount: Money) -> None:
        """Someone refunds `amount` of payment `reference` on the provider's dashboard."""
        ...

    def open_dispute(self, reference: str) -> None:
        """The payer disputes payment `reference`."""
        ...

    def close_dispute(self, reference: str, *, won: bool) -> None:
        """The provider decides the dispute on `reference` for us (`won`) or for the payer."""
        ...

    def update_card(self, token: str, last4: str, exp_month: int, exp_year: int) -> None:
        """The card network's updater replaces the card (when `traits.updates_cards`)."""
        ...

    def remove_method(self, token: str) -> None:
        """The saved method is removed at the provider (detached, revoked by the payer)."""
        ...

    def authenticate(self, reference: str, *, success: bool) -> None:
        """The customer completes (or fails) their bank's authentication of payment
        `reference` (when `traits.asks_authentication`); ProviderError when it no longer waits
        for one."""
        ...


class CardProviderUnderTest(ProviderUnderTest, Protocol):
    """A provider whose methods are cards saved from a setup (Stripe's SetupIntents)."""

    def confirm_setup(self, reference: str, *, three_d_secure: bool = False) -> None:
        """The customer confirms setup `reference` in the card form with a card that pays, or
        with one whose bank asks for 3-D Secure when it is set up (`three_d_secure`)."""
        ...

    def authenticate_setup(self, reference: str, *, success: bool = True) -> None:
        """The customer passes (or fails) the bank's 3-D Secure check of setup `reference`."""
        ...


class FakeProvider:
    real = False

    def __init__(self, provider: PaymentProvider) -> None:
        self.gateway = fake = FakeGateway(provider)
        self.traits = TRAITS[provider]
        self.account = new_account()
        self.customer = (
            fake.create_customer(self.account) if provider is PaymentProvider.STRIPE else None
        )

    def method(self, kind: Method = Method.PAYS) -> PaymentMethod:
        stripe = self.gateway.provider is PaymentProvider.STRIPE
        if stripe:
            token = f"pm_{kind}_{uuid4().hex[:8]}"
        else:  # the approved setup token, as PayPal's flow goes
            token = self.gateway.start_update(self.account, None).reference
        if kind is Method.AUTHENTICATES:
            self.gateway.asks_authentication(token)
        elif kind is not Method.PAYS:
            self.gateway.declines(token, REASONS[kind], self.traits.codes[kind])
        saved = (
            self.gateway.card_setup(self.customer, token, authenticate=True) if stripe else token
        )
        return self.gateway.save_payment_method(self.customer, saved)

    def refused(self) -> str:
        self.gateway.refuses("pm_refused", self.traits.refusal)
        if self.gateway.provider is PaymentProvider.STRIPE:
            return self.gateway.card_setup(self.customer, "pm_refused")
        return "pm_refused"

    def confirm_setup(self, reference: str, *, three_d_secure: bool = False) -> None:
        card = f"pm_{uuid4().hex[:8]}"
        if three_d_secure:
            self.gateway.asks_authentication(card)
        self.gateway.confirm_setup(reference, card)

    def authenticate_setup(self, reference: str, *, success: bool = True) -> None:
        self.gateway.authenticate_setup(reference, success=success)

    def fail(self, status: int, *, times: int, operation: Operation = "charge") -> None:
        self.gateway.fails(status, times=times, operation=operation)

    def unanswered(self, *, after_charging: bool) -> None:
        self.gateway.unanswered(after_charging=after_charging)

    def taken(self, key: str) -> int:
        return int(self.gateway.taken(key))

    def refund_at_provider(self, reference: str, amount: Money) -> None:
        self.gateway.refund_at_provider(reference, amount)

    def open_dispute(self, reference: str) -> None:
        self.gateway.open_dispute(reference)

    def close_dispute(self, reference: str, *, won: bool) -> None:
        self.gateway.close_dispute(reference, won=won)

    def update_card(self, token: str, last4: str, exp_month: int, exp_year: int) -> None:
        self.gateway.update_card(token, last4, exp_month, exp_year)

    def remove_method(self, token: str) -> None:
        self.gateway.remove_method(token)

    def authenticate(self, reference: str, *, success: bool) -> None:
        self.gateway.authenticate(reference, success=success)


def _late(after_charging: bool) -> dict[str, Any]:
    """A fault answering after the client gave up: having processed the request, or never."""
    then: dict[str, Any] = {"process_first": True} if after_charging else {"status": 503}
    return {"delay": 1.5 * TIMEOUT, **then}


STRIPE_TEST_METHODS: Mapping[Method, str] = {
    Method.PAYS: "pm_card_visa",
    Method.DECLINED: "pm_card_chargeCustomerFail",
    Method.INVALID: "pm_card_chargeDeclinedExpiredCard",
    Method.AUTHENTICATES: "pm_card_authenticationRequired",
}
STRIPE_REQUESTS: Mapping[Operation, tuple[str, str]] = {
    "charge": ("POST", "/v1/payment_intents"),
    "find_charge": ("GET", "/v1/payment_intents"),
}
PAYPAL_FUNDING: Mapping[Method, str] = {
    Method.PAYS: "ok",
    Method.DECLINED: "declined",
    Method.INVALID: "cancelled",
}
PAYPAL_REQUESTS: Mapping[Operation, tuple[str, str]] = {
    # The capture, not the order's creation (which moves no money and is repeated freely).
    "charge": ("POST", "/v2/checkout/orders/"),
    "find_charge": ("GET", "/v2/checkout/orders/"),
}


class StripeProvider:
    real = True
    traits = TRAITS[PaymentProvider.STRIPE]

    def __init__(self, localstripe: StandIn) -> None:
        self._localstripe = localstripe
        self.gateway = stripe = StripeGateway(
            "sk_test_local",
            publishable_key=STRIPE_PUBLISHABLE_KEY,
            api_base=localstripe.url,
            timeout=TIMEOUT,
            retry=RetryPolicy(sleep=Sleeps()),
        )
        self.account = new_account()
        self.customer = stripe.create_customer(self.account)

    def method(self, kind: Method = Method.PAYS) -> PaymentMethod:
        card = STRIPE_TEST_METHODS[kind]
        setup = card_setup(self._localstripe, self.customer, card, authenticate=True)
        return self.gateway.save_payment_method(self.customer, setup)

    def refused(self) -> str:
        setup = self.gateway.start_update(self.account, self.customer).reference
        declined_on_attach(self._localstripe, setup)
        return setup

    def confirm_setup(self, reference: str, *, three_d_secure: bool = False) -> None:
        card = "pm_card_authenticationRequired" if three_d_secure else "pm_card_visa"
        confirm_setup(self._localstripe, reference, card)

    def authenticate_setup(self, reference: str, *, success: bool = True) -> None:
        authenticate_setup(self._localstripe, reference, success=success)

    def fail(self, status: int, *, times: int, operation: Operation = "charge") -> None:
        self._localstripe.inject(*STRIPE_REQUESTS[operation], status=status, times=times)

    def unanswered(self, *, after_charging: bool) -> None:
        self._localstripe.inject(*STRIPE_REQUESTS["charge"], **_late(after_charging))

    def taken(self, key: str) -> int:
        assert self.customer is not None
        return sum(
            1
            for intent in payment_intents(self._localstripe, self.customer)
            if intent.metadata.to_dict().get(CHARGE_KEY) == key and intent.status == "succeeded"
        )

    def refund_at_provider(self, reference: str, amount: Money) -> None:
        stripe_client(self._localstripe).v1.refunds.create(
            params={"payment_intent": reference, "amount": amount.amount}
        )

    def open_dispute(self, reference: str) -> None:
        self._localstripe.post("/_config/disputes", {"payment_intent": reference})

    def close_dispute(self, reference: str, *, won: bool) -> None:
        """Evidence with Stripe's test-mode text that decides the dispute at once."""
        client = stripe_client(self._localstripe)
        [dispute] = client.v1.disputes.list(params={"payment_intent": reference}).data
        evidence = "winning_evidence" if won else "losing_evidence"
        client.v1.disputes.update(dispute.id, params={"evidence": {"uncategorized_text": evidence}})

    def update_card(self, token: str, last4: str, exp_month: int, exp_year: int) -> None:
        self._localstripe.post(
            f"/_config/payment_methods/{token}/automatic_update",
            {"last4": last4, "exp_month": exp_month, "exp_year": exp_year},
        )

    def remove_method(self, token: str) -> None:
        stripe_client(self._localstripe).v1.payment_methods.detach(token)

    def authenticate(self, reference: str, *, success: bool) -> None:
        secret = (
            stripe_client(self._localstripe).v1.payment_intents.retrieve(reference).client_secret
        )
        assert secret is not None
        try:
            authenticate(self._localstripe, secret, success=success)
        except urllib.error.HTTPError as refused:  # 400: nothing waits for it any more
            raise ProviderError(f"{reference} awaits no authentication: {refused}") from refused


class PayPalProvider:
    real = True
    traits = TRAITS[PaymentProvider.PAYPAL]
    customer = None

    def __init__(self, paypal: StandIn) -> None:
        self._paypal = paypal
        self.account = new_account()
        self.gateway = PayPalGateway(
            CLIENT_ID,
            CLIENT_SECRET,
            api_base=paypal.url,
            return_url="http://127.0.0.1:3000/paypal/return",
            cancel_url="http://127.0.0.1:3000/paypal/cancel",
            timeout=TIMEOUT,
            retry=RetryPolicy(sleep=Sleeps()),
        )

    def method(self, kind: Method = Method.PAYS) -> PaymentMethod:
        start = self.gateway.start_update(self.account, None)
        assert start.approval_url is not None
        approval = {"email": "ada@example.com", "funding": PAYPAL_FUNDING[kind]}
        self._paypal.post(start.approval_url.removeprefix(self._paypal.url), approval)
        return self.gateway.save_payment_method(None, start.reference)

    def refused(self) -> str:
        return self.gateway.start_update(new_account(), None).reference  # never approved

    def fail(self, status: int, *, times: int, operation: Operation = "charge") -> None:
        self._paypal.inject(*PAYPAL_REQUESTS[operation], status=status, times=times)

    def unanswered(self, *, after_charging: bool) -> None:
        self._paypal.inject(*PAYPAL_REQUESTS["charge"], **_late(after_charging))

    def taken(self, key: str) -> int:
        captures = self._paypal.get("/_standin/captures")
        return sum(1 for c in captures if c["custom_id"] == key and c["status"] == "COMPLETED")

    def refund_at_provider(self, reference: str, amount: Money) -> None:
        """A refund through PayPal's API as its dashboard makes one: no invoice id of ours."""
        body = {"amount": {"value": amount.decimal(), "currency_code": amount.currency.value}}
        paypal_api(self._paypal, "POST", f"/v2/payments/captures/{reference}/refund", body)

    def open_dispute(self, reference: str) -> None:
        self._paypal.post(
            f"/_standin/captures/{reference}/dispute",
            {"reason": "MERCHANDISE_OR_SERVICE_NOT_RECEIVED"},
        )

    def close_dispute(self, reference: str, *, won: bool) -> None:
        listed = paypal_api(
            self._paypal, "GET", f"/v1/customer/disputes?disputed_transaction_id={reference}"
        )
        outcome = "RESOLVED_SELLER_FAVOUR" if won else "RESOLVED_BUYER_FAVOUR"
        for dispute in listed["items"]:
            self._paypal.post(
                f"/_standin/disputes/{dispute['dispute_id']}/resolve", {"outcome": outcome}
            )

    def update_card(self, token: str, last4: str, exp_month: int, exp_year: int) -> None:
        raise NotImplementedError("a PayPal wallet has no card for the updater to replace")

    def authenticate(self, reference: str, *, success: bool) -> None:
        raise NotImplementedError("PayPal asks no payer to authenticate a capture")

    def remove_method(self, token: str) -> None:
        self._paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})
