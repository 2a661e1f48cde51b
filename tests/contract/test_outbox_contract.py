"""What any outbox store does: messages exist exactly when their change does (written in its
transaction, under ids made from the change), one sender at a time holds a message, a message is
finished once, and the unsent index lists what is still pending. Run against the in-memory fake
and DynamoDBRepository (moto, in-process)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any, cast

import pytest

from billing.domain.accounts import Account
from billing.domain.locales import Locale
from billing.domain.outbox import LEASE, OutboxMessage, OutboxStatus, outgoing
from billing.domain.state_machine import (
    Actor,
    Audit,
    CustomerCancelled,
    EmailCustomer,
    EmailTemplate,
    NotifySales,
    Requester,
    SalesNotice,
    account_audit,
    apply,
)
from billing.persistence.repository import (
    BillingRepository,
    ConcurrentModification,
    NotFound,
    OutboxStore,
    SubscriptionChange,
)
from tests.support.subscriptions import FIRST_END, active, past_due, store

pytestmark = pytest.mark.contract

ACCOUNT = Account(id="acct_1", email="ada@example.com", locale=Locale.FR, domain_zone="fr")
ADMIN = Requester(Actor.ADMIN, "user_ops")
AT = FIRST_END + timedelta(hours=1)


class Storage(BillingRepository, OutboxStore):
    """Both ports, as both adapters implement them."""


@pytest.fixture
def storage(repository: BillingRepository) -> Storage:
    return cast(Storage, repository)


def _cancelled(storage: Storage) -> tuple[Any, str]:
    """A past-due subscription cancelled by its customer: the change (its email in the outbox)
    and the subscription's id. The subscription was opened at version 1, so the cancel wrote
    version 2."""
    storage.save_account(ACCOUNT)
    stored = store(storage, past_due())
    decision = apply(stored, CustomerCancelled(at=AT))
    change = SubscriptionChange(
        stored,
        decision.subscription,
        audit=decision.of_type(Audit),
        messages=outgoing(decision.effects, AT),
    )
    return change, stored.id


def test_a_change_and_its_messages_are_written_together(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)

    entry = storage.take_message(f"subscription#{sub_id}#0000000002#00", AT, LEASE)

    assert entry is not None
    assert (entry.account_id, entry.message, entry.created_at, entry.attempts) == (
        ACCOUNT.id,
        change.messages[0].message,
        AT,
        1,
    )
    assert entry.message == EmailCustomer(
        EmailTemplate.SUBSCRIPTION_CANCELLED, entry.message.details
    )


def test_a_change_refused_writes_no_message(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)
    with pytest.raises(ConcurrentModification):
        storage.commit(change)  # the same change again: its version is stale

    with pytest.raises(NotFound):
        storage.take_message(f"subscription#{sub_id}#0000000003#00", AT, LEASE)
    assert storage.take_message(f"subscription#{sub_id}#0000000002#00", AT, LEASE) is not None


def test_an_account_write_carries_its_messages(storage: Storage) -> None:
    saved = storage.save_account(ACCOUNT)
    updated = EmailCustomer(EmailTemplate.BILLING_INFO_UPDATED, {"account_id": ACCOUNT.id})
    entry = account_audit(ADMIN, "billing_info_saved", AT, {"fields": "name"})
    storage.save_account(saved, [entry], [OutboxMessage(updated, AT)])
    with pytest.raises(ConcurrentModification):
        storage.save_account(saved, [entry], [OutboxMessage(updated, AT)])

    taken = storage.take_message(f"account#{ACCOUNT.id}#0000000002#00", AT, LEASE)

    assert taken is not None
    assert taken.message == updated
    with pytest.raises(NotFound):
        storage.take_message(f"account#{ACCOUNT.id}#0000000003#00", AT, LEASE)


def test_one_sender_at_a_time_holds_a_message(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)
    message_id = f"subscription#{sub_id}#0000000002#00"

    first = storage.take_message(message_id, AT, LEASE)
    while_held = storage.take_message(message_id, AT + LEASE - timedelta(seconds=1), LEASE)
    after_lease = storage.take_message(message_id, AT + LEASE + timedelta(seconds=1), LEASE)

    assert first is not None
    assert while_held is None
    assert after_lease is not None
    assert after_lease.attempts == 2, "the second sender may send it again: counted"


def test_a_released_message_is_taken_again_at_once(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)
    message_id = f"subscription#{sub_id}#0000000002#00"
    storage.take_message(message_id, AT, LEASE)

    storage.release_message(message_id, "Throttling")
    again = storage.take_message(message_id, AT, LEASE)

    assert again is not None
    assert (again.status, again.error, again.attempts) == (OutboxStatus.PENDING, "Throttling", 2)


def test_a_message_is_finished_once(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)
    message_id = f"subscription#{sub_id}#0000000002#00"
    storage.take_message(message_id, AT, LEASE)

    first = storage.finish_message(message_id, OutboxStatus.SENT, AT, message_id_sent="ses-1")
    second = storage.finish_message(message_id, OutboxStatus.SENT, AT, message_id_sent="ses-2")

    assert (first, second) == (True, False)
    later = AT + 2 * LEASE
    assert storage.take_message(message_id, later, LEASE) is None, "done: nobody takes it again"


def test_the_unsent_index_lists_what_is_still_pending(storage: Storage) -> None:
    storage.save_account(ACCOUNT)
    opened = store(storage, active())
    notice = NotifySales(SalesNotice.RETRY_NOW_OUTCOME, {"subscription_id": opened.id})
    first = replace(opened, auto_renew=False)
    written = storage.commit(
        SubscriptionChange(opened, first, messages=[OutboxMessage(notice, AT)] * 3)
    ).subscription
    storage.commit(
        SubscriptionChange(
            written,
            replace(written, auto_renew=True),
            messages=[OutboxMessage(notice, AT + timedelta(hours=1))],
        )
    )
    sent = f"subscription#{opened.id}#0000000002#01"
    storage.take_message(sent, AT, LEASE)
    storage.finish_message(sent, OutboxStatus.SENT, AT)

    unsent = {
        message_id
        for shard in storage.shards()
        for message_id in storage.unsent_in_shard(shard, AT + timedelta(minutes=30))
    }

    assert unsent == {
        f"subscription#{opened.id}#0000000002#00",
        f"subscription#{opened.id}#0000000002#02",
    }, "neither the sent one nor the one written after the cut"


def test_a_skipped_message_is_done_too(storage: Storage) -> None:
    change, sub_id = _cancelled(storage)
    storage.commit(change)
    message_id = f"subscription#{sub_id}#0000000002#00"
    storage.take_message(message_id, AT, LEASE)

    storage.finish_message(message_id, OutboxStatus.SKIPPED, AT, error="suppressed")

    assert storage.take_message(message_id, AT + 2 * LEASE, LEASE) is None
    assert not [m for shard in storage.shards() for m in storage.unsent_in_shard(shard, AT + LEASE)]
