"""The composition root: the one place that makes the system's parts from the environment and
hands each function the operations it uses, ready to call.

A function's handler asks `root()` for its operation and calls it; it builds nothing itself.
Parts are made on first use and kept for the Lambda process (a boto3 client made at import time
would escape moto in tests). Payment code is imported only by the operations that charge, so a
function that never charges (cancel, admin, the renewal dispatcher) loads no provider SDK.

Tests and the local stack `install` a root of their own (with in-memory fakes of the ports, or
the environment of a stack they started) and point `clock` at their own time.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

from billing.renewal_queue import SqsRenewalQueue
from billing.settings import (
    ContactSettings,
    DunningSettings,
    IdempotencySettings,
    InvoiceSettings,
    NotificationSettings,
    ProviderSettings,
    RenewalSettings,
    StorageSettings,
    VatIdSettings,
    WebhookSettings,
)

if TYPE_CHECKING:
    from billing.api.idempotency import IdempotentRequests
    from billing.changes import SubscriptionChanges
    from billing.charging import ChargeOperation
    from billing.delivery import OutboxDelivery, Sender
    from billing.domain.accounts import PaymentProvider
    from billing.domain.dunning import DunningSchedule
    from billing.invoices.archive import DocumentArchive
    from billing.notifications.feedback import EmailFeedback
    from billing.operations.accounts import AccountAdmin
    from billing.operations.actions import SubscriptionActions
    from billing.operations.billing_profile import BillingProfile
    from billing.operations.charges import ImmediateCharges
    from billing.operations.confirmations import Confirmations
    from billing.operations.invoices import Archiving, Invoices
    from billing.operations.purchases import Purchases
    from billing.operations.refunds import Refunds
    from billing.operations.subscriptions import SubscriptionReads
    from billing.operations.vat_ids import VatIdChecks
    from billing.payments import PaymentChanges
    from billing.persistence.dynamodb import DynamoDBRepository
    from billing.persistence.repository import BillingRepository, OutboxStore, RenewalIndexes
    from billing.persistence.webhook_events import WebhookEventStore
    from billing.provider_events import ProviderEvents
    from billing.providers.gateway import PaymentGateway, WebhookVerifier
    from billing.providers.vies import VatIdChecker
    from billing.renewal_worker import RenewalWorker
    from billing.renewals import RenewalDispatcher, RenewalQueue
    from billing.webhooks import WebhookReceiver

STORAGE = "billing.persistence.dynamodb"
"""The repository's adapter, with the domain it reads and writes: every function but the
renewal dispatcher, which reads the renewal indexes alone (`RENEWAL_INDEXES`)."""
RENEWAL_INDEXES = "billing.persistence.renewal_indexes"
PAYMENT_CODE = ("billing.charging", "billing.providers.configured")
"""What only the functions that charge import: the charge operation, the Stripe SDK and the
PayPal client. The operation each of them runs on top (a purchase, Retry Now, the billing
profile, the renewal worker) is imported with its handler or its first request."""

clock: Callable[[], datetime] = lambda: datetime.now(UTC)
"""Where this process reads the time; tests and the local stack point it at their own clock."""


def now() -> datetime:
    return clock()


class Root:
    """The parts of one process, each made once, and the operations built from them. Parts
    given to the constructor are used as they are (fakes, or clients of a stack already
    running); the others come from the environment."""

    def __init__(
        self,
        *,
        repository: BillingRepository | None = None,
        outbox: OutboxStore | None = None,
        notifier: Sender | None = None,
        gateways: Mapping[PaymentProvider, PaymentGateway] | None = None,
        renewal_queue: RenewalQueue | None = None,
        webhook_events: WebhookEventStore | None = None,
        webhook_verifiers: Mapping[PaymentProvider, WebhookVerifier] | None = None,
        vat_id_checker: VatIdChecker | None = None,
        invoice_archive: DocumentArchive | None = None,
    ) -> None:
        given = {
            "repository": repository,
            "outbox": outbox,
            "notifier": notifier,
            "gateways": gateways,
            "renewal_queue": renewal_queue,
            "webhook_events": webhook_events,
            "webhook_verifiers": webhook_verifiers,
            "vat_id_checker": vat_id_checker,
            "invoice_archive": invoice_archive,
        }
        for name, part in given.items():
            if part is not None:
                self.__dict__[name] = part  # what cached_property would have stored

    # --- parts ---

    @cached_property
    def _storage(self) -> DynamoDBRepository:
        from billing.persistence.dynamodb import DynamoDBRepository

        return DynamoDBRepository(StorageSettings.from_environment())

    @cached_property
    def repository(self) -> BillingRepository:
        return self._storage

    @cached_property
    def outbox(self) -> OutboxStore:
        """Where changes' messages wait to be sent: the same tables as `repository`."""
        return self._storage

    @cached_property
    def contacts(self) -> ContactSettings:
        return ContactSettings.from_environment()

    @cached_property
    def schedule(self) -> DunningSchedule:
        return DunningSettings.from_environment().schedule()

    @cached_property
    def renewal_indexes(self) -> RenewalIndexes:
        """What a renewal run reads: the repository where this process has one (given, or made
        for another operation), else the indexes alone, without the domain."""
        if "repository" in self.__dict__ or "_storage" in self.__dict__:
            return self.repository
        from billing.persistence.renewal_indexes import DynamoDBRenewalIndexes

        return DynamoDBRenewalIndexes(StorageSettings.from_environment())

    def start(self, *, charges: bool, repository: bool = True) -> None:
        """What a function does when it starts (Lambda's init phase): read the settings every
        function needs, so that a dunning schedule that cannot work fails the deployment's first
        invocation, not a customer's renewal; and import now, rather than in its first request,
        the storage it uses (the `repository`, or the renewal indexes alone) and, in a function
        that `charges`, the payment code."""
        self.schedule  # noqa: B018 - read for its validation
        modules = [STORAGE if repository else RENEWAL_INDEXES, *(PAYMENT_CODE if charges else ())]
        for module in modules:
            importlib.import_module(module)

    @cached_property
    def notifier(self) -> Sender:
        """SES and SNS: only the `notify` function sends (`outbox_delivery`)."""
        from billing.notifications.sender import Notifier

        return Notifier(NotificationSettings.from_environment(), self.contacts)

    @cached_property
    def renewal_queue(self) -> RenewalQueue:
        return SqsRenewalQueue(RenewalSettings.from_environment())

    @cached_property
    def gateways(self) -> Mapping[PaymentProvider, PaymentGateway]:
        """Stripe and PayPal, with credentials from Secrets Manager or the environment."""
        from billing.providers.configured import gateways

        return gateways(ProviderSettings.from_environment())

    @cached_property
    def vat_id_checker(self) -> VatIdChecker:
        """VIES, asked with the seller's VAT ID as requester (for its consultation number)."""
        from billing.domain.invoices import default_seller
        from billing.providers.vies import ViesChecker

        settings, requester = VatIdSettings.from_environment(), default_seller().party.vat_id
        assert requester is not None, "the seller has a VAT ID (billing/data/seller.json)"
        return ViesChecker(
            requester=requester,
            api_base=settings.vies_api_base,
            timeout=settings.vies_timeout_seconds,
        )

    @cached_property
    def webhook_events(self) -> WebhookEventStore:
        """Where each provider event is recorded once (its own table, its stream)."""
        from billing.persistence.webhook_events import DynamoDBWebhookEvents

        return DynamoDBWebhookEvents(WebhookSettings.from_environment())

    @cached_property
    def webhook_verifiers(self) -> Mapping[PaymentProvider, WebhookVerifier]:
        """Stripe's signing secret and PayPal's verification call."""
        from billing.providers.configured import webhook_verifiers

        return webhook_verifiers(
            ProviderSettings.from_environment(), WebhookSettings.from_environment(), clock=now
        )

    @cached_property
    def webhook_receiver(self) -> WebhookReceiver:
        from billing.webhooks import WebhookReceiver

        return WebhookReceiver(self.webhook_verifiers, self.webhook_events, clock=now)

    @cached_property
    def _invoice_settings(self) -> InvoiceSettings:
        return InvoiceSettings.from_environment()

    @cached_property
    def invoice_archive(self) -> DocumentArchive:
        """Invoices and credit notes as PDF, in their S3 bucket."""
        from billing.invoices.archive import S3DocumentArchive

        return S3DocumentArchive(self._invoice_settings)

    @cached_property
    def idempotent_requests(self) -> IdempotentRequests:
        from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

        from billing.api.idempotency import IdempotentRequests

        table = IdempotencySettings.from_environment().idempotency_table
        return IdempotentRequests(DynamoDBPersistenceLayer(table_name=table))

    # --- operations that never charge ---

    @cached_property
    def changes(self) -> SubscriptionChanges:
        from billing.changes import SubscriptionChanges

        return SubscriptionChanges(self.repository, clock=now, schedule=self.schedule)

    @cached_property
    def subscription_actions(self) -> SubscriptionActions:
        from billing.operations.actions import SubscriptionActions

        return SubscriptionActions(self.repository, self.changes)

    @cached_property
    def subscription_reads(self) -> SubscriptionReads:
        from billing.operations.subscriptions import SubscriptionReads

        return SubscriptionReads(self.repository)

    @cached_property
    def archiving(self) -> Archiving:
        from billing.operations.invoices import Archiving

        return Archiving(self.invoice_archive)

    @cached_property
    def invoices(self) -> Invoices:
        from billing.operations.invoices import Invoices

        lifetime = timedelta(seconds=self._invoice_settings.link_seconds)
        return Invoices(self.repository, self.invoice_archive, clock=now, link_lifetime=lifetime)

    @cached_property
    def account_admin(self) -> AccountAdmin:
        from billing.operations.accounts import AccountAdmin

        return AccountAdmin(self.repository, clock=now)

    @cached_property
    def billing_profile(self) -> BillingProfile:
        """The billing overview and form; saving a payment method needs `payment_methods`."""
        return self._billing_profile(None)

    @cached_property
    def vat_ids(self) -> VatIdChecks:
        """VIES's checks of VAT IDs: `check` for the billing form, and `refresh`, which a
        charge calls on the account right before computing its tax (an unchecked VAT ID whose
        time has come is asked about again; never raises for VIES)."""
        from billing.operations.vat_ids import VatIdChecks

        return VatIdChecks(self.repository, self.vat_id_checker, clock=now)

    @cached_property
    def outbox_delivery(self) -> OutboxDelivery:
        from billing.delivery import OutboxDelivery

        return OutboxDelivery(self.outbox, self.repository, self.notifier, clock=now)

    @cached_property
    def email_feedback(self) -> EmailFeedback:
        from billing.notifications.feedback import EmailFeedback

        return EmailFeedback(self.repository, clock=now)

    @cached_property
    def renewal_dispatcher(self) -> RenewalDispatcher:
        from billing.renewals import RenewalDispatcher

        return RenewalDispatcher(self.renewal_indexes, self.renewal_queue, clock=now)

    # --- operations that charge (they load the payment code) ---

    @cached_property
    def charging(self) -> ChargeOperation:
        from billing.charging import ChargeOperation

        return ChargeOperation(
            self.repository,
            self.gateways,
            clock=now,
            schedule=self.schedule,
            vat_ids=self.vat_ids,
        )

    @cached_property
    def immediate_charges(self) -> ImmediateCharges:
        from billing.operations.charges import ImmediateCharges

        return ImmediateCharges(self.repository, self.charging)

    @cached_property
    def purchases(self) -> Purchases:
        from billing.operations.purchases import Purchases

        return Purchases(self.repository, self.charging, clock=now)

    @cached_property
    def payment_methods(self) -> BillingProfile:
        """The billing profile with the providers: start and save a payment-method update,
        and the retry of a past-due subscription with the new method."""
        return self._billing_profile(self.charging)

    @cached_property
    def payment_changes(self) -> PaymentChanges:
        from billing.payments import PaymentChanges

        return PaymentChanges(self.repository, clock=now, schedule=self.schedule)

    @cached_property
    def provider_events(self) -> ProviderEvents:
        """Acting on a recorded webhook event, from the payment or method read again."""
        from billing.provider_events import ProviderEvents

        return ProviderEvents(
            self.repository, self.gateways, self.confirmations, self.payment_changes, clock=now
        )

    @cached_property
    def confirmations(self) -> Confirmations:
        """Payments the customer's bank asks them to confirm (3-D Secure), and completing them."""
        from billing.operations.confirmations import Confirmations

        return Confirmations(
            self.repository,
            self.charging,
            self.payment_changes,
            self.refunds,
            clock=now,
            schedule=self.schedule,
        )

    @cached_property
    def refunds(self) -> Refunds:
        from billing.operations.refunds import Refunds

        return Refunds(self.repository, self.gateways, self.payment_changes, clock=now)

    @cached_property
    def renewal_worker(self) -> RenewalWorker:
        from billing.renewal_worker import RenewalWorker

        return RenewalWorker(self.charging)

    def _billing_profile(self, charging: ChargeOperation | None) -> BillingProfile:
        from billing.notifications.emails import billing_info_updated, payment_method_updated
        from billing.operations.billing_profile import BillingProfile

        return BillingProfile(
            self.repository,
            payment_method_updated=payment_method_updated,
            billing_info_updated=billing_info_updated,
            clock=now,
            sales=self.contacts.sales,
            vat_ids=self.vat_ids,
            charging=charging,
            gateways=self.gateways if charging is not None else {},
        )


_root: Root | None = None


def root() -> Root:
    """This process's root, made from the environment on first use unless one was installed."""
    global _root  # noqa: PLW0603 - the one process-wide root, as Lambda keeps it between requests
    if _root is None:
        _root = Root()
    return _root


def install(made: Root | None = None) -> Root:
    """Use `made` from now on (tests, the local stack); None: a fresh root from the environment,
    for when the environment changed."""
    global _root  # noqa: PLW0603
    _root = made or Root()
    return _root
