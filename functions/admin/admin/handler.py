"""Routes for admins, partners and sales: accounts, partner-managed subscriptions and their
extension, and the Retry Now requests sales follows up."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body

from billing.api.bodies import AccountBody, PartnerSubscriptionBody
from billing.api.http import (
    Caller,
    ResourceId,
    api_router,
    documented,
    entry_point,
    ok,
    requires,
    staff,
)
from billing.api.idempotency import new_subscription_id, once_per_key
from billing.api.views import AccountView, AuditView, Page, SubscriptionView
from billing.composition import root
from billing.domain.accounts import Partner
from billing.domain.errors import ErrorCode
from billing.domain.locales import Locale
from billing.domain.state_machine import Actor, Requester
from billing.operations.accounts import AccountProfile
from billing.operations.subscriptions import Order

router = api_router()


@router.put(
    "/admin/accounts/<account_id>",
    summary="Create or update an account: email, locale, domain zone, channel, partner",
    responses=documented(
        200,
        AccountView,
        ErrorCode.FORBIDDEN,
        ErrorCode.CONCURRENT_MODIFICATION,
        also=201,
        idempotent=True,
    ),
)
@requires(staff("admin"))
def put_account(account_id: ResourceId, body: Annotated[AccountBody, Body()]) -> Response[Any]:
    def saved(who: Caller) -> Response[Any]:
        partner = body.partner
        account, created = root().account_admin.put_account(
            account_id,
            AccountProfile(
                email=body.email,
                locale=body.locale,
                domain_zone=body.domain_zone,
                channel=body.channel,
                partner=None
                if partner is None
                else Partner(partner.id, partner.name, partner.email),
            ),
            who.acting_as(Actor.ADMIN),
        )
        return ok(AccountView.of(account), 201 if created else 200)

    return once_per_key(router, saved)


@router.post(
    "/admin/accounts/<account_id>/subscriptions",
    summary="Open a partner-managed subscription (never charged by us)",
    responses=documented(
        201,
        SubscriptionView,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.NOT_PARTNER_MANAGED,
        ErrorCode.SUBSCRIPTION_EXISTS,
        ErrorCode.UNKNOWN_PLAN,
        idempotent=True,
    ),
)
@requires(staff("admin", "partner"))
def partner_subscription(
    account_id: ResourceId, body: Annotated[PartnerSubscriptionBody, Body()]
) -> Response[Any]:
    def opened(who: Caller) -> Response[Any]:
        partner_id = None if who.in_group("admin") else who.partner_id or ""
        sub = root().account_admin.open_partner_subscription(
            account_id,
            partner_id,
            Order(body.plan_id, body.cycle_months, body.currency),
            new_subscription_id(router.current_event, who.account_id, account_id),
            _partner_or_admin(who),
        )
        account = root().repository.get_account(account_id)
        return ok(SubscriptionView.for_account(sub, account), 201)

    return once_per_key(router, opened)


@router.post(
    "/admin/subscriptions/<subscription_id>/extend",
    summary="A partner extends its customer's subscription by one cycle",
    responses=documented(
        200,
        SubscriptionView,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.NOT_PARTNER_MANAGED,
        ErrorCode.SUBSCRIPTION_CANCELLED,
        idempotent=True,
    ),
)
@requires(staff("admin", "partner"))
def extend(subscription_id: ResourceId) -> Response[Any]:
    def extended(who: Caller) -> Response[Any]:
        partner_id = None if who.in_group("admin") else who.partner_id or ""
        result = root().subscription_actions.extend(
            subscription_id, partner_id, _partner_or_admin(who)
        )
        return ok(SubscriptionView.for_account(result.subscription, result.account))

    return once_per_key(router, extended)


@router.post(
    "/admin/subscriptions/<subscription_id>/clear-dispute",
    summary="Sales: let automatic charges resume after a disputed payment",
    responses=documented(
        200,
        SubscriptionView,
        ErrorCode.FORBIDDEN,
        ErrorCode.NOT_FOUND,
        ErrorCode.NO_ACTION_REQUIRED,
        idempotent=True,
    ),
)
@requires(staff("sales"))
def clear_dispute(subscription_id: ResourceId) -> Response[Any]:
    def cleared(who: Caller) -> Response[Any]:
        result = root().subscription_actions.clear_dispute(
            subscription_id, who.acting_as(Actor.SALES)
        )
        return ok(SubscriptionView.for_account(result.subscription, result.account))

    return once_per_key(router, cleared)


@router.get(
    "/admin/accounts/<account_id>",
    summary="Admin and sales: an account, with the addresses whose mail bounced or complained",
    responses=documented(200, AccountView, ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
@requires(staff("admin", "sales"))
def get_account(account_id: ResourceId) -> Response[Any]:
    return ok(AccountView.of(root().account_admin.account(account_id)))


@router.get(
    "/admin/accounts/<account_id>/events",
    summary="Sales: everything recorded about an account, oldest first: its changes, the "
    "charges requested and its subscriptions' changes, each with who asked",
    responses=documented(200, Page[AuditView], ErrorCode.FORBIDDEN, ErrorCode.NOT_FOUND),
)
@requires(staff("sales"))
def account_events(account_id: ResourceId) -> Response[Any]:
    return ok([AuditView.of(entry) for entry in root().account_admin.events(account_id)])


def _partner_or_admin(who: Caller) -> Requester:
    """An admin acting for a partner is recorded as the admin."""
    return who.acting_as(Actor.ADMIN if who.in_group("admin") else Actor.PARTNER)


@router.get(
    "/admin/retry-requests",
    summary="Past-due subscriptions whose Retry Now failed, for sales to follow up",
    responses=documented(200, Page[SubscriptionView], ErrorCode.FORBIDDEN),
)
@requires(staff("sales"))
def retry_requests() -> Response[Any]:
    # Sales reads in English: the follow-up list is not shown to customers.
    return ok(
        [
            SubscriptionView.of(sub, Locale.EN)
            for sub in root().subscription_actions.retry_requests()
        ]
    )


lambda_handler = entry_point(router)
