"""An account's billing information and payment method: reading them, the billing form, and
saving a new card or PayPal account through the flow the rules table chooses."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from billing.changes import AccountWrite, ChangeResult, write_account
from billing.domain.accounts import (
    Account,
    BillingInfo,
    PaymentMethodKind,
    PaymentProvider,
    VatIdCheck,
    VatIdStatus,
)
from billing.domain.contacts import Contact, SalesContact, partner_contact
from billing.domain.errors import DomainError, ErrorCode
from billing.domain.failures import explain
from billing.domain.outbox import outgoing
from billing.domain.payment_update import (
    RequestedChange,
    UpdateContext,
    UpdateDecision,
    UpdateFlow,
    choose_flow,
    requested_method,
)
from billing.domain.state_machine import (
    Details,
    EmailCustomer,
    PaymentMethodUpdated,
    Requester,
    account_audit,
)
from billing.domain.subscription import Status, Subscription
from billing.domain.values import frozen
from billing.operations.subscriptions import authentication_required
from billing.operations.vat_ids import VatIdChecks, checked_by_vies, vat_id_refused
from billing.persistence.repository import BillingRepository
from billing.providers.gateway import (
    PaymentGateway,
    PaymentMethodRejected,
    SetupIncomplete,
    SetupNotFound,
    UpdateStart,
)

if TYPE_CHECKING:
    from billing.charging import ChargeOperation

AccountEmail = Callable[[Account], EmailCustomer]
"""Builds the account-level email (payment method or billing info updated) for an account."""
Described = Callable[[Account, Account], Details]
"""What an account change's audit entry says, from the account before and after it."""

_PROVIDER_FOR: Mapping[UpdateFlow, PaymentProvider] = {
    UpdateFlow.CARD_FORM: PaymentProvider.STRIPE,
    UpdateFlow.PAYPAL_APPROVAL: PaymentProvider.PAYPAL,
}
_CHANGE_FOR: Mapping[PaymentProvider, RequestedChange] = {
    PaymentProvider.STRIPE: RequestedChange.CARD,
    PaymentProvider.PAYPAL: RequestedChange.PAYPAL,
}


@frozen
class BillingOverview:
    account: Account
    update: UpdateDecision
    """The flow that applies to updating the current payment method."""
    contact: Contact | None = None
    """Whom to contact when that flow is not self-service."""


@frozen
class MethodUpdateStart:
    update: UpdateDecision
    account: Account
    start: UpdateStart | None = None
    """Set for self-service flows: the client secret or the approval URL."""
    contact: Contact | None = None
    """Set for the flows that go through the partner or sales."""


@frozen
class SavedMethod:
    account: Account
    retried: ChangeResult | None = None
    """The immediate retry of a past-due subscription with the new method, if there was one."""
    retry_refused: DomainError | None = None
    """Why that retry did not run (e.g. another attempt in flight)."""


class BillingProfile:
    def __init__(
        self,
        repository: BillingRepository,
        *,
        payment_method_updated: AccountEmail,
        billing_info_updated: AccountEmail,
        clock: Callable[[], datetime],
        sales: SalesContact,
        vat_ids: VatIdChecks,
        charging: ChargeOperation | None = None,
        gateways: Mapping[PaymentProvider, PaymentGateway] | None = None,
    ) -> None:
        self._repository = repository
        self._payment_method_updated = payment_method_updated
        self._billing_info_updated = billing_info_updated
        self._clock = clock
        self._sales = sales
        self._vat_ids = vat_ids
        self._charging = charging
        self._gateways = gateways or {}

    # --- reading ---

    def overview(self, account_id: str) -> BillingOverview:
        account = self._repository.get_account(account_id)
        running = self._open_subscription(account)
        decision = self._decide(account, running, requested_method(account.payment_method_kind))
        return BillingOverview(account, decision, self._contact(account, running, decision))

    # --- the billing form ---

    def update_info(self, account_id: str, info: BillingInfo, by: Requester) -> Account:
        """Save the form. A new country or VAT ID goes through sales, as the rules say. A VAT ID
        VIES checks is saved with its check (one VIES says is invalid refuses the form); any
        other clears the check of the one before."""
        check = self._vat_id_check(account_id, info)

        def filled_in(account: Account) -> Account:
            self._check_info_change(account, info)
            return replace(account, billing_info=info, vat_id_check=check)

        return self._save(
            account_id,
            filled_in,
            by,
            "billing_info_saved",
            _form_changes,
            email=self._billing_info_updated,
        )

    def _vat_id_check(self, account_id: str, info: BillingInfo) -> VatIdCheck | None:
        """VIES's check of the form's VAT ID, asked once before the write (not again after a
        lost race), and only if the rules let the customer make the change."""
        if not checked_by_vies(info):
            return None
        account = self._repository.get_account(account_id)
        self._check_info_change(account, info)
        check = self._vat_ids.check(info, account.vat_id_check)
        if check is not None and check.status is VatIdStatus.INVALID:
            raise vat_id_refused(check.vat_id)
        return check

    def _check_info_change(self, account: Account, info: BillingInfo) -> None:
        old = account.billing_info
        sensitive = (
            []
            if old is None
            else [
                change
                for change, differs in (
                    (RequestedChange.BILLING_COUNTRY, old.country != info.country),
                    (RequestedChange.VAT_ID, old.vat_id != info.vat_id),
                )
                if differs
            ]
        )
        running = self._open_subscription(account)
        for change in sensitive or [requested_method(account.payment_method_kind)]:
            self._allow(account, running, self._decide(account, running, change))

    # --- payment methods ---

    def start_update(
        self, account_id: str, method: PaymentMethodKind | None, by: Requester
    ) -> MethodUpdateStart:
        """Begin saving a new method: a client secret, an approval URL, or whom to contact."""
        account = self._repository.get_account(account_id)
        wanted = (
            requested_method(account.payment_method_kind)
            if method is None
            else _CHANGE_FOR[_provider(method)]
        )
        running = self._open_subscription(account)
        decision = self._decide(account, running, wanted)
        provider = _PROVIDER_FOR.get(decision.flow)
        if provider is None:
            contact = self._contact(account, running, decision)
            return MethodUpdateStart(decision, account, contact=contact)
        account, customer = self._customer(account, provider, by)
        start = self._gateways[provider].start_update(account, customer)
        return MethodUpdateStart(decision, account, start)

    def save_method(
        self, account_id: str, provider: PaymentProvider, token: str, by: Requester
    ) -> SavedMethod:
        """Verify and save the method the customer approved (`token`: the setup `start_update`
        began, which the customer completed), then retry a past-due subscription with it at once
        (one attempt, the same lock as Retry Now)."""
        account = self._repository.get_account(account_id)
        running = self._open_subscription(account)
        decision = self._decide(account, running, _CHANGE_FOR[provider])
        self._allow(account, running, decision)
        if _PROVIDER_FOR[decision.flow] is not provider:
            raise DomainError(
                ErrorCode.INVALID_FIELDS,
                details=[{"field": "provider", "code": "unavailable", "message": decision.why}],
            )
        # The setup created the Stripe customer: without one, no setup can be the account's.
        customer = account.stripe_customer_id if provider is PaymentProvider.STRIPE else None
        try:
            method = self._gateways[provider].save_payment_method(customer, token)
        except SetupNotFound:
            raise DomainError(ErrorCode.NOT_FOUND, "This account started no such setup.") from None
        except SetupIncomplete:
            raise DomainError(ErrorCode.SETUP_INCOMPLETE) from None
        except PaymentMethodRejected as rejected:
            explanation = explain(rejected.reason, account.locale)
            raise DomainError(
                ErrorCode.PAYMENT_METHOD_REJECTED,
                explanation.message,
                {
                    "reason": rejected.reason.value,
                    "action": explanation.action.value,
                    "action_text": explanation.action_text,
                },
            ) from None
        method = replace(method, saved_at=self._clock())
        account = self._save(
            account_id,
            lambda a: replace(a, payment_method=method),
            by,
            "payment_method_saved",
            _method_saved,
            email=self._payment_method_updated,
        )
        return self._retry_past_due(account, by)

    def _retry_past_due(self, account: Account, by: Requester) -> SavedMethod:
        sub_id = account.open_subscription_id
        if sub_id is None or self._charging is None:
            return SavedMethod(account)

        def when_past_due(
            sub: Subscription, account: Account, now: datetime
        ) -> PaymentMethodUpdated | None:
            return PaymentMethodUpdated(at=now, by=by) if sub.status is Status.PAST_DUE else None

        try:
            result = self._charging.change(sub_id, account.id, when_past_due)
        except DomainError as refused:
            return SavedMethod(account, retry_refused=refused)
        if result.attempt is not None and result.confirmation is not None:
            # The method is saved; the customer, here, confirms its first payment.
            raise authentication_required(result.attempt, result.confirmation, account.locale)
        return SavedMethod(result.account, result if result.attempt is not None else None)

    # --- shared steps ---

    def _customer(
        self, account: Account, provider: PaymentProvider, by: Requester
    ) -> tuple[Account, str | None]:
        """The provider's customer for the account, created and saved on first use (Stripe)."""
        if provider is not PaymentProvider.STRIPE:
            return account, None
        if account.stripe_customer_id is not None:
            return account, account.stripe_customer_id
        customer = self._gateways[provider].create_customer(account)
        saved = self._save(
            account.id,
            lambda a: replace(a, stripe_customer_id=customer),
            by,
            "provider_customer_created",
            lambda old, new: {"provider": provider.value},
        )
        return saved, customer

    def _save(
        self,
        account_id: str,
        change: Callable[[Account], Account],
        by: Requester,
        action: str,
        described: Described,
        *,
        email: AccountEmail | None = None,
    ) -> Account:
        """Read, change and save the account with its audit entry (and the `email` the change
        owes the customer, into the outbox), again from a fresh read after a lost race;
        `change` may refuse by raising."""

        def written(old: Account) -> tuple[None, AccountWrite]:
            new = change(old)
            now = self._clock()
            entry = account_audit(by, action, now, described(old, new))
            messages = outgoing([] if email is None else [email(new)], now)
            return None, AccountWrite(new, [entry], messages)

        _, saved = write_account(self._repository, account_id, written)
        assert saved is not None, "every change is written"
        return saved

    @staticmethod
    def _decide(
        account: Account, running: Subscription | None, requested: RequestedChange
    ) -> UpdateDecision:
        """The flow for `requested`, given the account and its open subscription (read once per
        request by the caller: the rules, and whom to contact, both depend on it)."""
        return choose_flow(
            UpdateContext(
                domain_zone=account.domain_zone,
                billing_country=None
                if account.billing_info is None
                else account.billing_info.country,
                auto_renew=None if running is None else running.auto_renew,
                current_method=account.payment_method_kind,
                channel=account.channel,
                requested=requested,
            )
        )

    def _open_subscription(self, account: Account) -> Subscription | None:
        if account.open_subscription_id is None:
            return None
        return self._repository.get_subscription(account.open_subscription_id)

    def _contact(
        self, account: Account, running: Subscription | None, decision: UpdateDecision
    ) -> Contact | None:
        """Whom the flow sends the customer to, if it is not self-service."""
        if decision.flow is UpdateFlow.CONTACT_PARTNER:
            return partner_contact(account, running)
        if decision.flow is UpdateFlow.CONTACT_SALES:
            return Contact(sales=self._sales)
        return None

    def _allow(
        self, account: Account, running: Subscription | None, decision: UpdateDecision
    ) -> None:
        """Refuse a self-service change the rules send to the partner or to sales, saying whom
        to contact."""
        contact = self._contact(account, running, decision)
        if contact is None:
            return
        if decision.flow is UpdateFlow.CONTACT_PARTNER:
            raise DomainError(ErrorCode.MANAGED_BY_PARTNER, details=contact.details())
        raise DomainError(
            ErrorCode.CONTACT_SALES,
            decision.why,
            {"rule": decision.rule_id, "why": decision.why, **contact.details()},
        )


def _provider(kind: PaymentMethodKind) -> PaymentProvider:
    return PaymentProvider.PAYPAL if kind is PaymentMethodKind.PAYPAL else PaymentProvider.STRIPE


def _form_changes(old: Account, new: Account) -> Details:
    """Which fields of the billing form changed, by name only: the trail never expires, so it
    keeps no copy of an address or a VAT number; and what VIES said of the VAT ID, if asked."""
    before, after = old.billing_info, new.billing_info
    assert after is not None
    changed = [
        name
        for name in after.__dataclass_fields__
        if before is None or getattr(before, name) != getattr(after, name)
    ]
    check = new.vat_id_check
    if check is None:
        return {"fields": ",".join(changed)}
    # VIES's verdict and consultation number: the seller's proof that it checked.
    verdict = {"vat_id_check": check.status.value, "consultation": check.consultation}
    return {"fields": ",".join(changed)} | {k: v for k, v in verdict.items() if v is not None}


def _method_saved(old: Account, new: Account) -> Details:
    """The saved method's display data, as the customer sees it (never its token)."""
    method = new.payment_method
    assert method is not None
    shown = {
        "provider": method.provider.value,
        "kind": method.kind.value,
        "brand": method.brand,
        "last4": method.last4,
    }
    return {key: value for key, value in shown.items() if value is not None}
