"""What any `BillingRepository` does: round trips, optimistic locking, all-or-nothing writes, the
account's one open slot, settle-once attempts, append-only trails in order, the due and pending
indexes. Run against the in-memory fake and DynamoDBRepository (moto, in-process)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from billing.domain.accounts import (
    Account,
    BillingInfo,
    Partner,
    PaymentMethod,
    PaymentMethodKind,
    PaymentProvider,
    VatIdCheck,
    VatIdStatus,
)
from billing.domain.charges import ChargeAttempt, ChargeStatus, Refund
from billing.domain.failures import FailureReason
from billing.domain.locales import Locale
from billing.domain.money import Money
from billing.domain.state_machine import (
    SCHEDULER,
    Actor,
    Audit,
    ChargeSucceeded,
    CustomerCancelled,
    Decision,
    Requester,
    account_audit,
    apply,
)
from billing.domain.subscription import Channel, ChargeKind, Status, Subscription
from billing.persistence.repository import (
    AttemptAlreadyClaimed,
    AttemptAlreadySettled,
    BillingRepository,
    ConcurrentModification,
    DueEntry,
    NotFound,
    PendingEntry,
    SubscriptionChange,
    SubscriptionExists,
)
from tests.support.subscriptions import (
    ANCHOR,
    CARD,
    CUSTOMER,
    FIRST_END,
    PRICE,
    active,
    declined,
    discounted,
    first_attempt,
    partner,
    purchase_of,
    store,
)

pytestmark = pytest.mark.contract

ACCOUNT = Account(id="acct_1", email="ada@example.com", locale=Locale.FR, domain_zone="fr")
ADMIN = Requester(Actor.ADMIN, "user_ops")
HOUR = timedelta(hours=1)


def _opened(repository: BillingRepository, sub: Subscription | None = None) -> Subscription:
    repository.save_account(ACCOUNT)
    return store(repository, sub or active())


def _requested(attempt: ChargeAttempt) -> Audit:
    return account_audit(CUSTOMER, "charge_requested", attempt.created_at, {"id": attempt.id})


def _claim_purchase(repository: BillingRepository, sub: Subscription) -> None:
    """The claim of `sub`'s purchase: its first attempt, with the account's open slot."""
    pending = first_attempt(sub)
    repository.claim(pending, _requested(pending), purchase_of(sub))


def _attempt(sub: Subscription, status: ChargeStatus, attempt: int = 1) -> ChargeAttempt:
    return ChargeAttempt(
        subscription_id=sub.id,
        account_id=sub.account_id,
        cycle=sub.cycle + 1,
        attempt=attempt,
        kind=ChargeKind.RENEWAL,
        amount=PRICE,
        status=status,
        created_at=FIRST_END,
        requested_by=SCHEDULER,
        provider=PaymentProvider.STRIPE,
        payment_method_id=CARD,
        provider_reference="pi_123" if status is ChargeStatus.SUCCEEDED else None,
        failure_reason=FailureReason.CARD_DECLINED if status is ChargeStatus.FAILED else None,
    )


def _change(
    repository: BillingRepository, before: Subscription, decision: Decision, attempt: ChargeAttempt
) -> SubscriptionChange:
    """The change that settles `attempt`, claimed (pending) first as every charge is."""
    pending = replace(attempt, status=ChargeStatus.PENDING, failure_reason=None)
    repository.claim(pending, _requested(pending))
    return SubscriptionChange(before, decision.subscription, [attempt], decision.of_type(Audit))


def _renewed(sub: Subscription) -> Decision:
    return apply(sub, ChargeSucceeded(at=FIRST_END, kind=ChargeKind.RENEWAL, amount=PRICE))


def _opening(sub: Subscription) -> Audit:
    return Audit(Actor.CUSTOMER, "opened", None, Status.ACTIVE, sub.anchor, {})


def _due(repository: BillingRepository, now: datetime) -> list[DueEntry]:
    return [entry for shard in repository.shards() for entry in repository.due_in_shard(shard, now)]


def _pending(repository: BillingRepository, before: datetime) -> list[PendingEntry]:
    shards = repository.shards()
    return [e for shard in shards for e in repository.pending_in_shard(shard, before)]


# --- round trips ---


def test_subscription_round_trip(repository: BillingRepository) -> None:
    stored = _opened(repository, discounted(cycles=2))
    assert stored.version == 1
    assert repository.get_subscription(stored.id) == stored
    account = repository.get_account(ACCOUNT.id)
    # Saved (1), its open slot claimed by the purchase (2), the subscription opened in it (3).
    assert (account.open_subscription_id, account.version) == (stored.id, 3)


def test_past_due_state_round_trips(repository: BillingRepository) -> None:
    stored = _opened(repository)
    failed = declined(FIRST_END, ChargeKind.RENEWAL, FailureReason.PAYMENT_METHOD_INVALID)
    decision = apply(stored, failed)
    saved = repository.commit(
        _change(repository, stored, decision, _attempt(stored, ChargeStatus.FAILED))
    ).subscription
    assert saved == replace(decision.subscription, version=2)
    assert repository.get_subscription(stored.id) == saved


def test_account_round_trip_and_stale_write(repository: BillingRepository) -> None:
    account = replace(
        ACCOUNT,
        channel=Channel.PARTNER,
        partner=Partner("prt_1", "Reseller GmbH", "billing@reseller.example"),
        billing_info=BillingInfo("Ada", "ada@example.com", "1 rue de la Paix", "Paris", "FR"),
        payment_method=PaymentMethod(
            PaymentProvider.STRIPE, PaymentMethodKind.CARD, "pm_1", "visa", "4242", 12, 2030
        ),
    )
    saved = repository.save_account(account)
    assert saved.version == 1
    assert repository.get_account(account.id) == saved
    repository.save_account(replace(saved, email="new@example.com"))
    with pytest.raises(ConcurrentModification):
        repository.save_account(replace(saved, email="stale@example.com"))
    assert repository.get_account(account.id).email == "new@example.com"


def test_instants_are_stored_to_the_second_in_utc(repository: BillingRepository) -> None:
    saved_at = FIRST_END + timedelta(microseconds=654321)
    method = PaymentMethod(
        PaymentProvider.PAYPAL, PaymentMethodKind.PAYPAL, "vault_1", saved_at=saved_at
    )
    repository.save_account(replace(ACCOUNT, payment_method=method))
    stored = repository.get_account(ACCOUNT.id).payment_method
    assert stored is not None
    assert stored.saved_at == FIRST_END


def test_unknown_ids_are_not_found(repository: BillingRepository) -> None:
    with pytest.raises(NotFound):
        repository.get_subscription("sub_missing")
    with pytest.raises(NotFound):
        repository.get_account("acct_missing")
    with pytest.raises(NotFound):
        repository.get_attempt("sub_missing", 0, 1)
    assert repository.charge_attempts("sub_missing") == []
    assert repository.audit_trail("sub_missing") == []
    assert repository.subscriptions_of("acct_missing") == []


def test_a_subscription_loads_only_with_its_own_account(repository: BillingRepository) -> None:
    stored = _opened(repository)
    other = repository.save_account(replace(ACCOUNT, id="acct_2"))
    assert repository.load(stored.id, ACCOUNT.id) == (stored, repository.get_account(ACCOUNT.id))
    with pytest.raises(NotFound, match="Subscription"):
        repository.load(stored.id, other.id)
    with pytest.raises(NotFound, match="Subscription"):
        repository.load("sub_missing", ACCOUNT.id)


# --- one change, all or nothing ---


def test_state_attempt_and_audit_are_written_together(repository: BillingRepository) -> None:
    stored = _opened(repository)
    change = _change(repository, stored, _renewed(stored), _attempt(stored, ChargeStatus.SUCCEEDED))
    repository.commit(change)
    attempt, _purchase = repository.charge_attempts(stored.id)
    assert (attempt.status, attempt.provider_reference, attempt.id) == (
        ChargeStatus.SUCCEEDED,
        "pi_123",
        "sub_1.c00001.a001",
    )
    [audit] = repository.audit_trail(stored.id)
    assert (audit.action, audit.from_status, audit.to_status) == (
        "charge_succeeded",
        Status.ACTIVE,
        Status.ACTIVE,
    )


def test_optimistic_lock_conflict_writes_nothing(repository: BillingRepository) -> None:
    stored = _opened(repository)
    # Two workers read the same version; the scheduler's renewal commits first.
    winner = repository.commit(
        _change(repository, stored, _renewed(stored), _attempt(stored, ChargeStatus.SUCCEEDED))
    ).subscription
    decline = apply(stored, declined(FIRST_END))
    stale = _change(repository, stored, decline, _attempt(stored, ChargeStatus.FAILED, attempt=2))
    with pytest.raises(ConcurrentModification):
        repository.commit(stale)
    assert repository.get_subscription(stored.id) == winner
    assert [(a.cycle, a.attempt, a.status) for a in repository.charge_attempts(stored.id)] == [
        (1, 2, ChargeStatus.PENDING),
        (1, 1, ChargeStatus.SUCCEEDED),
        (0, 1, ChargeStatus.SUCCEEDED),
    ]
    assert [a.action for a in repository.audit_trail(stored.id)] == ["charge_succeeded"]


def test_an_attempt_is_settled_once(repository: BillingRepository) -> None:
    stored = _opened(repository)
    succeeded = _attempt(stored, ChargeStatus.SUCCEEDED)
    winner = repository.commit(
        _change(repository, stored, _renewed(stored), succeeded)
    ).subscription
    # A second caller that looked the same charge up settles it again, against fresh state.
    again = _renewed(winner)
    with pytest.raises(AttemptAlreadySettled):
        repository.commit(SubscriptionChange(winner, again.subscription, [succeeded]))
    assert repository.get_subscription(stored.id) == winner


def test_an_attempt_never_claimed_cannot_be_settled(repository: BillingRepository) -> None:
    stored = _opened(repository)
    unclaimed = _attempt(stored, ChargeStatus.SUCCEEDED)
    with pytest.raises(AttemptAlreadySettled):
        repository.commit(SubscriptionChange(stored, _renewed(stored).subscription, [unclaimed]))
    assert repository.get_subscription(stored.id) == stored
    with pytest.raises(NotFound):
        repository.get_attempt(stored.id, unclaimed.cycle, unclaimed.attempt)


def test_audit_entries_are_append_only(repository: BillingRepository) -> None:
    stored = _opened(repository)
    off = apply(stored, CustomerCancelled(at=FIRST_END - timedelta(days=1)))
    entry = off.of_type(Audit)
    repository.commit(SubscriptionChange(stored, off.subscription, audit=entry))
    # A writer that somehow holds the right version cannot overwrite an existing audit entry.
    with pytest.raises(ConcurrentModification):
        repository.commit(SubscriptionChange(stored, off.subscription, audit=entry))
    assert len(repository.audit_trail(stored.id)) == 1


def test_a_subscription_needs_an_existing_account(repository: BillingRepository) -> None:
    orphan = replace(active(), account_id="x")
    with pytest.raises(NotFound, match="Account"):
        repository.commit(SubscriptionChange(before=None, after=orphan, audit=[_opening(orphan)]))
    with pytest.raises(NotFound):
        repository.get_subscription(active().id)
    with pytest.raises(NotFound, match="Account"):
        _claim_purchase(repository, orphan)
    with pytest.raises(NotFound):
        repository.get_attempt(orphan.id, 0, 1)


# --- the account's one open slot ---


def test_account_write_from_before_the_purchase_is_refused(repository: BillingRepository) -> None:
    read_before = repository.save_account(ACCOUNT)
    store(repository, active())
    with pytest.raises(ConcurrentModification):
        repository.save_account(replace(read_before, locale=Locale.EN))
    assert repository.get_account(ACCOUNT.id).open_subscription_id == active().id


def test_one_open_subscription_per_account(repository: BillingRepository) -> None:
    first = _opened(repository)
    second = replace(active(), id="sub_2", anchor=FIRST_END + timedelta(days=3))
    with pytest.raises(SubscriptionExists):
        # Buying while one is open is refused when the slot is claimed, before any charge.
        _claim_purchase(repository, second)
    with pytest.raises(NotFound):
        repository.get_attempt("sub_2", 0, 1)
    with pytest.raises(SubscriptionExists):
        # Nor can it open without the slot: the account's item is then not second.
        repository.commit(SubscriptionChange(before=None, after=second, audit=[_opening(second)]))
    with pytest.raises(NotFound):
        repository.get_subscription("sub_2")
    # Once the first is cancelled, the account may buy again.
    failed = apply(
        first,
        declined(FIRST_END, ChargeKind.RENEWAL, FailureReason.CARD_DECLINED),
    )
    past_due = repository.commit(SubscriptionChange(first, failed.subscription)).subscription
    gone = apply(past_due, CustomerCancelled(at=FIRST_END + timedelta(hours=1)))
    repository.commit(SubscriptionChange(past_due, gone.subscription, audit=gone.of_type(Audit)))
    assert repository.get_account(ACCOUNT.id).open_subscription_id is None
    store(repository, second)
    account = repository.get_account(ACCOUNT.id)
    assert (account.open_subscription_id, account.pending_purchase) == ("sub_2", None)
    history = repository.subscriptions_of(ACCOUNT.id)
    assert [(s.id, s.status) for s in history] == [
        ("sub_2", Status.ACTIVE),
        ("sub_1", Status.CANCELLED),
    ]


def test_a_purchase_holds_the_open_slot_until_it_settles(repository: BillingRepository) -> None:
    repository.save_account(ACCOUNT)
    first, second = active(), replace(active(), id="sub_2")
    _claim_purchase(repository, first)
    assert repository.get_account(ACCOUNT.id).pending_purchase == purchase_of(first)
    with pytest.raises(SubscriptionExists):
        _claim_purchase(repository, second)
    with pytest.raises(NotFound):
        repository.get_attempt("sub_2", 0, 1)
    with pytest.raises(SubscriptionExists):
        repository.commit(SubscriptionChange(before=None, after=partner(account_id=ACCOUNT.id)))
    # Declined: the attempt is settled and the slot freed, in one write.
    declined_first = replace(
        first_attempt(first), status=ChargeStatus.FAILED, failure_reason=FailureReason.CARD_DECLINED
    )
    repository.release_purchase(declined_first)
    assert repository.get_account(ACCOUNT.id).pending_purchase is None
    assert repository.get_attempt(first.id, 0, 1) == declined_first
    with pytest.raises(AttemptAlreadySettled):
        repository.release_purchase(declined_first)
    assert store(repository, second).id == "sub_2"


def test_a_purchase_opened_twice_is_settled_already_not_a_second_subscription(
    repository: BillingRepository,
) -> None:
    """Its own request and its webhook both open a paid purchase: the second writer learns that
    the attempt is settled (and reads what became of it), not that the account has another
    subscription."""
    repository.save_account(ACCOUNT)
    sub = active()
    _claim_purchase(repository, sub)
    paid = replace(first_attempt(sub), status=ChargeStatus.SUCCEEDED, provider_reference="pi_1")
    repository.commit(SubscriptionChange(before=None, after=sub, attempts=[paid]))

    with pytest.raises(AttemptAlreadySettled):
        repository.commit(SubscriptionChange(before=None, after=sub, attempts=[paid]))


def test_a_purchase_released_without_its_slot_writes_nothing(
    repository: BillingRepository,
) -> None:
    first = _opened(repository)
    renewal = _attempt(first, ChargeStatus.PENDING)
    repository.claim(renewal, _requested(renewal))
    # Not a purchase: the slot is held by the open subscription, not by a purchase of first.
    with pytest.raises(ConcurrentModification):
        repository.release_purchase(replace(renewal, status=ChargeStatus.FAILED))
    assert repository.get_attempt(first.id, renewal.cycle, 1) == renewal
    with pytest.raises(AttemptAlreadySettled):
        repository.release_purchase(first_attempt(replace(active(), id="sub_never")))


def test_a_partner_subscription_opens_in_a_free_slot(repository: BillingRepository) -> None:
    sold = partner(account_id=ACCOUNT.id)
    before = repository.save_account(ACCOUNT)
    stored = repository.commit(SubscriptionChange(before=None, after=sold)).subscription
    account = repository.get_account(ACCOUNT.id)
    assert (stored.version, account.open_subscription_id, account.version) == (
        1,
        sold.id,
        before.version + 1,
    )
    with pytest.raises(SubscriptionExists):
        repository.commit(SubscriptionChange(before=None, after=replace(sold, id="sub_p2")))


# --- claims ---


def test_a_claim_names_its_requester_in_the_account_trail(repository: BillingRepository) -> None:
    stored = _opened(repository)
    claimed = _attempt(stored, ChargeStatus.PENDING)
    repository.claim(claimed, _requested(claimed))
    assert repository.get_attempt(stored.id, claimed.cycle, 1).requested_by == SCHEDULER
    trail = repository.account_trail(ACCOUNT.id)
    assert [(e.action, e.by, e.details) for e in trail] == [
        ("charge_requested", CUSTOMER.id, {"attempt_id": first_attempt(stored).id}),
        ("charge_requested", CUSTOMER.id, {"id": claimed.id}),
    ]
    with pytest.raises(AttemptAlreadyClaimed) as taken:
        repository.claim(claimed, _requested(claimed))
    assert taken.value.existing == claimed
    assert len(repository.account_trail(ACCOUNT.id)) == 2


def test_account_changes_are_audited_with_the_write(repository: BillingRepository) -> None:
    created = account_audit(ADMIN, "account_created", FIRST_END, {"fields": "email"})
    saved = repository.save_account(ACCOUNT, [created])
    updated = account_audit(ADMIN, "account_updated", FIRST_END, {"fields": "locale"})
    repository.save_account(replace(saved, locale=Locale.EN), [updated])
    stale = account_audit(ADMIN, "account_updated", FIRST_END, {"fields": "email"})
    with pytest.raises(ConcurrentModification):
        repository.save_account(replace(saved, email="stale@example.com"), [stale])
    assert repository.account_trail(ACCOUNT.id) == [created, updated]


BELGIAN = replace(
    ACCOUNT,
    billing_info=BillingInfo(
        "Ada", "ada@example.be", "Rue de la Loi 16", "Bruxelles", "BE", vat_id="BE0123456789"
    ),
    vat_id_check=VatIdCheck(
        "BE0123456789", VatIdStatus.UNCHECKED, FIRST_END, next_check_at=FIRST_END + HOUR
    ),
)
CONFIRMED = VatIdCheck(
    "BE0123456789", VatIdStatus.VALID, FIRST_END + HOUR, consultation="WAPI000000000001"
)


def test_a_vat_id_check_is_saved_on_its_own_with_its_trail_entry(
    repository: BillingRepository,
) -> None:
    saved = repository.save_account(BELGIAN)
    entry = account_audit(SCHEDULER, "vat_id_checked", FIRST_END + HOUR, {"status": "valid"})

    checked = repository.save_vat_id_check(saved, CONFIRMED, [entry])

    assert checked == replace(saved, vat_id_check=CONFIRMED, version=saved.version + 1)
    assert repository.get_account(BELGIAN.id) == checked
    assert repository.account_trail(BELGIAN.id) == [entry]
    with pytest.raises(ConcurrentModification):
        repository.save_account(replace(saved, email="read-before-the-check@example.com"))


def test_a_vat_id_check_on_an_account_changed_since_writes_nothing(
    repository: BillingRepository,
) -> None:
    saved = repository.save_account(BELGIAN)
    moved = repository.save_account(replace(saved, email="new@example.com"))
    entry = account_audit(SCHEDULER, "vat_id_checked", FIRST_END + HOUR, {"status": "valid"})

    with pytest.raises(ConcurrentModification):
        repository.save_vat_id_check(saved, CONFIRMED, [entry])
    with pytest.raises(ConcurrentModification):
        repository.save_vat_id_check(replace(BELGIAN, id="acct_never_saved"), CONFIRMED, [entry])

    assert repository.get_account(BELGIAN.id) == moved
    assert repository.account_trail(BELGIAN.id) == []


def test_the_account_trail_is_in_time_order(repository: BillingRepository) -> None:
    later = account_audit(ADMIN, "account_created", FIRST_END, {"fields": "email"})
    repository.save_account(ACCOUNT, [later])
    earlier = first_attempt(active())
    requested = account_audit(CUSTOMER, "charge_requested", ANCHOR, {"id": earlier.id})
    repository.claim(earlier, requested)
    assert repository.account_trail(ACCOUNT.id) == [requested, later]


# --- the renewal run's indexes and the follow-up list ---


def test_pending_attempts_are_indexed_until_settled(repository: BillingRepository) -> None:
    stored = _opened(repository)
    claimed = _attempt(stored, ChargeStatus.PENDING)
    repository.claim(claimed, _requested(claimed))

    assert _pending(repository, FIRST_END) == [], "claimed at FIRST_END: not before it"
    [entry] = _pending(repository, FIRST_END + timedelta(seconds=1))
    assert entry == PendingEntry(
        stored.id, stored.account_id, claimed.cycle, 1, ChargeKind.RENEWAL, FIRST_END
    )
    assert repository.get_attempt(stored.id, entry.cycle, entry.attempt) == claimed
    settled = replace(claimed, status=ChargeStatus.SUCCEEDED, provider_reference="pi_1")
    repository.commit(SubscriptionChange(stored, _renewed(stored).subscription, [settled]))
    assert _pending(repository, FIRST_END + timedelta(days=1)) == []
    with pytest.raises(NotFound):
        repository.get_attempt(stored.id, entry.cycle, 2)


def test_the_due_index_holds_what_is_due_from_every_shard(repository: BillingRepository) -> None:
    subs = []
    for n in range(12):
        account = repository.save_account(replace(ACCOUNT, id=f"acct_{n}"))
        sub = replace(active(), id=f"sub_{n:03d}", account_id=account.id, anchor=ANCHOR + n * HOUR)
        subs.append(store(repository, sub))
    now = FIRST_END + 5 * HOUR
    assert {e.subscription_id for e in _due(repository, now)} == {s.id for s in subs[:6]}
    assert all(
        e.due_at == FIRST_END + int(e.subscription_id[4:]) * HOUR for e in _due(repository, now)
    )
    # Cancelled: nothing due. Renewed: due a period later.
    failed = repository.commit(
        SubscriptionChange(subs[0], apply(subs[0], declined(now)).subscription)
    ).subscription
    gone = apply(failed, CustomerCancelled(at=now))
    repository.commit(SubscriptionChange(failed, gone.subscription, audit=gone.of_type(Audit)))
    repository.commit(SubscriptionChange(subs[1], _renewed(subs[1]).subscription))
    assert {e.subscription_id for e in _due(repository, now)} == {s.id for s in subs[2:6]}
    assert [e.account_id for e in _due(repository, FIRST_END + HOUR)] == []


def test_failed_retry_now_requests_are_listed_newest_first(repository: BillingRepository) -> None:
    requested = []
    for n in range(3):
        repository.save_account(replace(ACCOUNT, id=f"acct_{n}"))
        sub = store(repository, replace(active(), id=f"sub_{n}", account_id=f"acct_{n}"))
        past_due = apply(sub, declined(FIRST_END))
        sub = repository.commit(SubscriptionChange(sub, past_due.subscription)).subscription
        at = FIRST_END + (3 - n) * HOUR  # the later subscriptions asked earlier
        asked = apply(sub, declined(at, ChargeKind.RETRY_NOW))
        requested.append(
            repository.commit(SubscriptionChange(sub, asked.subscription)).subscription
        )
    assert [s.id for s in repository.retry_requests()] == ["sub_0", "sub_1", "sub_2"]
    assert repository.retry_requests() == requested


def test_a_payment_is_revised_with_its_subscription_once_per_revision(
    repository: BillingRepository,
) -> None:
    stored = _opened(repository)
    paid = _attempt(stored, ChargeStatus.SUCCEEDED)
    renewed = repository.commit(_change(repository, stored, _renewed(stored), paid)).subscription
    refund = Refund(Money(900, PRICE.currency), FIRST_END, SCHEDULER, key="r1", reference="re_1")
    refunded = paid.revised(refunds=(refund,))

    after = repository.commit(
        SubscriptionChange(renewed, renewed, payments=[refunded])
    ).subscription

    assert repository.get_attempt(stored.id, paid.cycle, paid.attempt) == refunded
    # A second writer revising from the same read (two webhooks of the same refund) loses.
    again = paid.revised(refunds=(refund, refund))
    with pytest.raises(ConcurrentModification):
        repository.commit(SubscriptionChange(after, after, payments=[again]))
    assert repository.get_attempt(stored.id, paid.cycle, paid.attempt) == refunded
    assert repository.get_subscription(stored.id) == after
    # Read again, it revises on.
    disputed = refunded.revised(refunds=(refund,))
    repository.commit(SubscriptionChange(after, after, payments=[disputed]))
    assert repository.get_attempt(stored.id, paid.cycle, paid.attempt).revision == 2
