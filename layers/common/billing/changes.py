"""Changing one subscription: load it with its account, let the state machine decide, commit the
decision; re-applied to fresh state when another writer won the race.

Every change of a subscription goes through `SubscriptionChanges.change`: a cancel, a partner's
extension, the end of a period. A change that calls for a charge (Retry Now, a renewal) is handed
to the charge operation (`billing.charging`), which passes itself as the `charge` step; functions
that never charge use this module alone and load no payment code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from billing.domain.accounts import Account
from billing.domain.billing_calendar import instant
from billing.domain.charges import ChargeAttempt
from billing.domain.dunning import DunningSchedule
from billing.domain.outbox import OutboxMessage, outgoing
from billing.domain.state_machine import (
    DEFAULT_SCHEDULE,
    Audit,
    Charge,
    Decision,
    Effect,
    Event,
    Requester,
    apply,
)
from billing.domain.subscription import Subscription
from billing.domain.values import frozen
from billing.persistence.repository import (
    BillingRepository,
    ConcurrentModification,
    SubscriptionChange,
)

if TYPE_CHECKING:  # a change that charges nothing loads no payment code
    from billing.providers.gateway import Confirmation

COMMIT_TRIES = 3
"""A commit that lost a race to another change (e.g. a cancel) is re-applied to fresh state."""


@frozen
class ChangeResult:
    """The subscription as it stands, the charge attempt made (None if nothing was charged) and
    the emails and notices the change owes: written with it, in the outbox, as its audit
    entries are."""

    subscription: Subscription
    account: Account
    attempt: ChargeAttempt | None
    effects: tuple[Effect, ...] = ()
    changed: bool = False
    """Whether this call wrote the subscription; False when nothing was due, or when another
    caller wrote the same change first."""
    confirmation: Confirmation | None = None
    """Set when the customer's bank asks them to authenticate the charge made (3-D Secure)
    before it is taken: the attempt stays pending meanwhile."""


EventFor = Callable[[Subscription, Account, datetime], Event | None]
"""Builds the event to apply at `now`, or None when nothing is to be done."""


class ChargeStep(Protocol):
    """Carries out the charge a decision calls for, and writes its outcome with the decision."""

    def __call__(
        self,
        sub: Subscription,
        account: Account,
        charge: Charge,
        decision: Decision,
        *,
        by: Requester,
        now: datetime,
    ) -> ChangeResult: ...


class ChargeNotAllowed(Exception):
    """A change that calls for a charge was made where nothing may be charged: a wiring error."""


class SubscriptionChanges:
    def __init__(
        self,
        repository: BillingRepository,
        *,
        clock: Callable[[], datetime],
        schedule: DunningSchedule = DEFAULT_SCHEDULE,
    ) -> None:
        self._repository = repository
        self._clock = clock
        self.schedule = schedule

    def now(self) -> datetime:
        return instant(self._clock())

    def change(
        self,
        subscription_id: str,
        account_id: str,
        event_for: EventFor,
        charge: ChargeStep | None = None,
    ) -> ChangeResult:
        """Apply the event `event_for` builds at the current instant and write the decision; a
        decision that calls for a charge goes to `charge` instead.

        Raises TransitionRejected (the state machine's refusals), NotFound, ConcurrentModification
        after COMMIT_TRIES lost races, and ChargeNotAllowed without a `charge` step.
        """
        now = self.now()
        for _ in range(COMMIT_TRIES):
            sub, account = self._repository.load(subscription_id, account_id)
            event = event_for(sub, account, now)
            if event is None:
                return ChangeResult(sub, account, None)
            decision = apply(sub, event, self.schedule)
            charges = decision.of_type(Charge)
            if charges:
                if charge is None:
                    raise ChargeNotAllowed(f"{type(event).__name__} calls for a charge")
                return charge(sub, account, charges[0], decision, by=event.requester, now=now)
            try:
                return self._commit(sub, account, decision, now)
            except ConcurrentModification:
                continue
        raise ConcurrentModification

    def _commit(
        self, sub: Subscription, account: Account, decision: Decision, now: datetime
    ) -> ChangeResult:
        audit = decision.of_type(Audit)
        effects = notices(decision)
        if not audit:
            assert not effects, "a decision that changes nothing owes nobody a message"
            return ChangeResult(sub, account, None)
        stored = self._repository.commit(
            SubscriptionChange(
                sub, decision.subscription, audit=audit, messages=outgoing(effects, now)
            )
        ).subscription
        return ChangeResult(stored, account, None, effects, changed=True)


def notices(decision: Decision) -> tuple[Effect, ...]:
    """The emails and notices a decision calls for: what is left once charged and audited."""
    return tuple(e for e in decision.effects if not isinstance(e, Charge | Audit))


@frozen
class AccountWrite:
    """An account to save, with the audit entries and the messages its change owes."""

    account: Account
    audit: Sequence[Audit] = ()
    messages: Sequence[OutboxMessage] = ()


def write_account[R](
    repository: BillingRepository,
    account_id: str,
    change: Callable[[Account], tuple[R, AccountWrite | None]],
) -> tuple[R, Account | None]:
    """Read the account, let `change` decide what it answers and what to write (None: nothing),
    and write it, again from a fresh read after a lost race: COMMIT_TRIES times, then
    ConcurrentModification. The answer of the read that was written (or needed no write), and
    the account as saved (None when nothing was written). NotFound without the account;
    `change` may refuse by raising."""
    for _ in range(COMMIT_TRIES):
        answer, write = change(repository.get_account(account_id))
        if write is None:
            return answer, None
        try:
            return answer, repository.save_account(write.account, write.audit, write.messages)
        except ConcurrentModification:
            continue
    raise ConcurrentModification
