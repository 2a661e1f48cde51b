"""The catalogue, purchase history, buying a plan, one subscription with its payments and
audit trail, and the download of an invoice or a credit note."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from billing.api.bodies import PurchaseBody
from billing.api.http import (
    ACCOUNT_ADMIN,
    ANYONE,
    Caller,
    ResourceId,
    api_router,
    current_caller,
    documented,
    entry_point,
    invalid_field,
    ok,
    requires,
)
from billing.api.idempotency import new_subscription_id, once_per_key
from billing.api.views import (
    AttemptView,
    AuditView,
    CatalogueView,
    DocumentLinkView,
    Page,
    SubscriptionView,
)
from billing.composition import root
from billing.domain.errors import ErrorCode
from billing.domain.pricing import default_catalogue
from billing.domain.state_machine import Actor
from billing.operations.subscriptions import Order

router = api_router()


@router.get(
    "/plans",
    summary="The catalogue: every plan's price per cycle length and currency",
    responses=documented(200, CatalogueView, public=True),
)
@requires(ANYONE)
def plans() -> Response[Any]:
    return ok(CatalogueView.of(default_catalogue()))


@router.get(
    "/subscriptions",
    summary="Purchase history: the account's subscriptions, newest first",
    responses=documented(200, Page[SubscriptionView], ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def history() -> Response[Any]:
    account, subscriptions = root().subscription_reads.history(current_caller(router).account_id)
    return ok([SubscriptionView.for_account(sub, account) for sub in subscriptions])


@router.post(
    "/subscriptions",
    summary="Buy a plan: the first cycle (with the coupon's discount) is charged at once",
    responses=documented(
        201,
        SubscriptionView,
        ErrorCode.PAYMENT_DECLINED,
        ErrorCode.AUTHENTICATION_REQUIRED,
        ErrorCode.PAYMENT_METHOD_REQUIRED,
        ErrorCode.SUBSCRIPTION_EXISTS,
        ErrorCode.MANAGED_BY_PARTNER,
        ErrorCode.UNKNOWN_PLAN,
        ErrorCode.UNKNOWN_COUPON,
        ErrorCode.NOT_FOUND,
        ErrorCode.PAYMENT_PENDING,
        ErrorCode.PROVIDER_UNAVAILABLE,
        idempotent=True,
    ),
)
@requires(ACCOUNT_ADMIN)
def purchase(order: Annotated[PurchaseBody, Body()]) -> Response[Any]:
    def bought(who: Caller) -> Response[Any]:
        result = root().purchases.purchase(
            who.account_id,
            Order(order.plan_id, order.cycle_months, order.currency, order.coupon),
            new_subscription_id(router.current_event, who.account_id),
            who.acting_as(Actor.CUSTOMER),
        )
        return ok(SubscriptionView.for_account(result.subscription, result.account), 201)

    return once_per_key(router, bought)


@router.get(
    "/subscriptions/<subscription_id>",
    summary="One subscription of the account",
    responses=documented(200, SubscriptionView, ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def subscription(subscription_id: ResourceId) -> Response[Any]:
    sub, account = root().subscription_reads.one(current_caller(router).account_id, subscription_id)
    return ok(SubscriptionView.for_account(sub, account))


@router.get(
    "/subscriptions/<subscription_id>/payments",
    summary="The subscription's charge attempts, newest first",
    responses=documented(200, Page[AttemptView], ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def payments(subscription_id: ResourceId) -> Response[Any]:
    attempts = root().subscription_reads.payments(
        current_caller(router).account_id, subscription_id
    )
    return ok([AttemptView.of(attempt) for attempt in attempts])


@router.get(
    "/subscriptions/<subscription_id>/events",
    summary="The subscription's audit trail, oldest first",
    responses=documented(200, Page[AuditView], ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def events(subscription_id: ResourceId) -> Response[Any]:
    trail = root().subscription_reads.events(current_caller(router).account_id, subscription_id)
    return ok([AuditView.of(entry) for entry in trail])


DOCUMENT_NUMBER_DIGITS = 12


def document_number(text: str) -> int:
    """An invoice's number as its customer may type it, zero-padded as printed (``00000042``)
    or not; 422 for anything else."""
    if not (text.isascii() and text.isdigit() and len(text) <= DOCUMENT_NUMBER_DIGITS):
        raise invalid_field(
            "number", "invalid_number", "An invoice number is a whole number, e.g. 00000042."
        )
    return int(text)


@router.get(
    "/invoices/<number>",
    summary="A link that downloads one of the account's invoices or credit notes as PDF, "
    "for a few minutes",
    responses=documented(200, DocumentLinkView, ErrorCode.NOT_FOUND),
)
@requires(ACCOUNT_ADMIN)
def invoice(number: str) -> Response[Any]:
    parsed = document_number(number)
    link = root().invoices.download(current_caller(router).account_id, parsed)
    return ok(DocumentLinkView.of(link))


lambda_handler = entry_point(router, charges=True)
