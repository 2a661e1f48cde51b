"""PynamoDB models of the tables defined in ``template.yaml``.

Table names and the endpoint are not known when these classes are defined: `bind_tables`
sets them from `StorageSettings` before first use (once per Lambda process, once per test).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any, Self

from pynamodb.attributes import (
    Attribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.constants import MAP, STRING
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from billing.domain.billing_calendar import format_instant, parse_instant
from billing.settings import StorageSettings


class InstantAttribute(Attribute[datetime]):
    """A UTC instant stored as ``YYYY-MM-DDTHH:MM:SSZ``: readable, and sortable as a string."""

    attr_type = STRING

    def serialize(self, value: datetime) -> str:
        return format_instant(value)

    def deserialize(self, value: str) -> datetime:
        return parse_instant(value)


class DueIndex(GlobalSecondaryIndex["SubscriptionRecord"]):
    """Sparse and write-sharded: only subscriptions with something due carry its keys."""

    class Meta:
        index_name = "due-index"
        projection = IncludeProjection(["account_id"])

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = InstantAttribute(range_key=True)


class AccountIndex(GlobalSecondaryIndex["SubscriptionRecord"]):
    """An account's subscriptions by purchase instant (purchase history)."""

    class Meta:
        index_name = "account-index"
        projection = AllProjection()

    account_id = UnicodeAttribute(hash_key=True)
    anchor = InstantAttribute(range_key=True)


class FollowUpIndex(GlobalSecondaryIndex["SubscriptionRecord"]):
    """Sparse: past-due subscriptions whose Retry Now failed, for sales to follow up."""

    class Meta:
        index_name = "follow-up-index"
        projection = AllProjection()

    follow_up = UnicodeAttribute(hash_key=True)
    retry_now_requested_at = InstantAttribute(range_key=True)


class OpenModel(Model):
    """A model that declares only what PynamoDB must know of its items (keys, index keys, the
    version, what conditions read) and carries their other attributes through untouched: read
    with the item, written back with it. `billing.persistence.items` writes and reads those."""

    _undeclared: Mapping[str, dict[str, Any]] = MappingProxyType({})

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Self:
        record = super().from_raw_data(data)
        record._undeclared = _undeclared_in(cls, data)
        return record

    def deserialize(self, attribute_values: dict[str, dict[str, Any]]) -> None:
        super().deserialize(attribute_values)
        self._undeclared = _undeclared_in(type(self), attribute_values)

    def serialize(self, null_check: bool = True) -> dict[str, dict[str, Any]]:
        return {**self._undeclared, **super().serialize(null_check=null_check)}

    @property
    def item(self) -> dict[str, dict[str, Any]]:
        """The whole item as read, or as a write will send it (PynamoDB then puts the version
        after this one in it, on condition that the stored one is this)."""
        return self.serialize(null_check=False)


def _undeclared_in(model: type[Model], item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    declared = {attribute.attr_name for attribute in model.get_attributes().values()}
    return {name: value for name, value in item.items() if name not in declared}


class SubscriptionRecord(OpenModel):
    """A subscription's item. Its fields are written by `to_item(Subscription)`; the attributes
    below are the ones keys, indexes and the optimistic lock read, plus the index keys derived
    from the state (``due_shard``, ``due_at``, ``follow_up``)."""

    class Meta:
        table_name = "unbound-subscriptions"

    id = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    anchor = InstantAttribute()
    retry_now_requested_at = InstantAttribute(null=True)
    follow_up = UnicodeAttribute(null=True)
    due_shard = UnicodeAttribute(null=True)
    due_at = InstantAttribute(null=True)
    version = VersionAttribute()

    due_index = DueIndex()
    account_index = AccountIndex()
    follow_up_index = FollowUpIndex()


class PendingIndex(GlobalSecondaryIndex["ChargeAttemptRecord"]):
    """Sparse and write-sharded: only attempts whose outcome is not known yet carry its keys."""

    class Meta:
        index_name = "pending-index"
        projection = IncludeProjection(["account_id", "kind"])

    pending_shard = UnicodeAttribute(hash_key=True)
    created_at = InstantAttribute(range_key=True)


class ChargeAttemptRecord(OpenModel):
    """A charge attempt's item. Its fields are written by `to_item(ChargeAttempt)`; the
    attributes below are the keys, the pending index's keys and what it projects (read by the
    reconciliation from the index alone), and the status the settle-once condition reads."""

    class Meta:
        table_name = "unbound-charge-attempts"

    subscription_id = UnicodeAttribute(hash_key=True)
    key = UnicodeAttribute(range_key=True)
    """``c<cycle>#a<attempt>``, zero-padded so that attempts sort oldest to newest."""
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    created_at = InstantAttribute()
    pending_shard = UnicodeAttribute(null=True)
    revision = NumberAttribute(null=True)
    """Changes made to the payment after it settled, which each revision's condition reads."""

    pending_index = PendingIndex()

    @staticmethod
    def key_of(cycle: int, attempt: int) -> str:
        """The sort key of a subscription's attempt `attempt` of cycle `cycle`."""
        return f"c{cycle:05d}#a{attempt:03d}"

    @staticmethod
    def numbers_of(key: str) -> tuple[int, int]:
        """The cycle and attempt a sort key written by `key_of` names."""
        cycle, attempt = key.split("#")
        return int(cycle.removeprefix("c")), int(attempt.removeprefix("a"))


class AuditEventRecord(Model):
    """Append-only: written with a does-not-exist condition, never updated, never expires."""

    class Meta:
        table_name = "unbound-audit-events"

    stream = UnicodeAttribute(hash_key=True)
    """``subscription#<id>`` or ``account#<id>``."""
    seq = UnicodeAttribute(range_key=True)
    """A subscription's: the version the change produced, zero-padded, then the entry's index in
    that change. An account's: the instant, then what makes the entry unique (the account
    version it wrote, or the charge attempt it requested)."""
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    from_status = UnicodeAttribute(null=True)
    to_status = UnicodeAttribute(null=True)
    at = InstantAttribute()
    details = MapAttribute[str, str]()
    by = UnicodeAttribute(null=True)
    """Who asked: a user id, a partner id or ``scheduler``."""


class FieldsMap(Attribute[dict[str, dict[str, Any]]]):
    """A map attribute whose members `billing.persistence.items` writes and reads: held as
    DynamoDB's attribute values, untouched. Declared where a condition or an update names the
    attribute; a condition reaches a member as ``Record.attribute["member"]``."""

    attr_type = MAP


class AccountRecord(OpenModel):
    """An account's item. Its fields are written by `to_item(Account)`; the attributes below are
    the key, the version, the account's one open slot, which subscription writes and charge
    claims update on their own and their conditions read, and VIES's check of the VAT ID, which
    a check made before a charge updates on its own."""

    class Meta:
        table_name = "unbound-accounts"

    id = UnicodeAttribute(hash_key=True)
    open_subscription_id = UnicodeAttribute(null=True)
    pending_purchase = FieldsMap(null=True)
    """The open slot held by a purchase whose first charge is not settled yet."""
    vat_id_check = FieldsMap(null=True)
    """VIES's last word on the VAT ID, which a later check replaces on its own."""
    version = VersionAttribute()


class UnsentIndex(GlobalSecondaryIndex["OutboxRecord"]):
    """Sparse and write-sharded: only messages still pending carry its keys, so the sweep finds
    the ones their stream record did not deliver."""

    class Meta:
        index_name = "unsent-index"
        projection = KeysOnlyProjection()

    unsent_shard = UnicodeAttribute(hash_key=True)
    created_at = InstantAttribute(range_key=True)


class OutboxRecord(Model):
    """A message owed to someone, written in the transaction of the change that owes it. The
    table's stream hands each new item to the `notify` function."""

    class Meta:
        table_name = "unbound-outbox"

    id = UnicodeAttribute(hash_key=True)
    """The change that wrote it and its place in it: ``subscription#<id>#<version>#<n>`` or
    ``account#<id>#<version>#<n>``."""
    account_id = UnicodeAttribute()
    kind = UnicodeAttribute()
    """``customer_email``, ``sales_notice`` or ``partner_email``."""
    name = UnicodeAttribute()
    """The email template or the notice."""
    details = MapAttribute[str, str]()
    created_at = InstantAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    lease_until = InstantAttribute(null=True)
    sent_at = InstantAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    error = UnicodeAttribute(null=True)
    unsent_shard = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    """Set once the message is done; DynamoDB deletes it some time after."""

    unsent_index = UnsentIndex()


class DocumentRecord(OpenModel):
    """An invoice or credit note as issued, written by `to_item(Document)` once and never
    updated; or, at number 0, the head of its legal entity's sequence: the last number issued,
    which every write of a document reads in its condition and moves on."""

    class Meta:
        table_name = "unbound-documents"

    entity = UnicodeAttribute(hash_key=True)
    number = NumberAttribute(range_key=True)
    last = NumberAttribute(null=True)
    """The head's: the last number issued."""


SEQUENCE_HEAD = 0
"""The number of a sequence's head item: documents are numbered from 1."""


def bind_tables(settings: StorageSettings) -> None:
    """Point every model at the tables and endpoint of `settings` (drops cached connections)."""
    bindings: tuple[tuple[type[Model], str], ...] = (
        (AccountRecord, settings.accounts_table),
        (SubscriptionRecord, settings.subscriptions_table),
        (ChargeAttemptRecord, settings.charge_attempts_table),
        (AuditEventRecord, settings.audit_events_table),
        (OutboxRecord, settings.outbox_table),
        (DocumentRecord, settings.documents_table),
    )
    for model, table_name in bindings:
        bind(model, table_name, settings.region, settings.dynamodb_endpoint)


def bind(model: type[Model], table_name: str, region: str, endpoint: str | None) -> None:
    """Point `model` at `table_name` in `region`, at `endpoint` off AWS (drops its cached
    connection)."""
    model.Meta.table_name = table_name
    model.Meta.region = region
    model.Meta.host = endpoint
    model._connection = None
