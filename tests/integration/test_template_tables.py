"""The PynamoDB models and the tables of template.yaml describe the same keys and indexes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from pynamodb.models import Model

from billing.persistence.models import (
    AccountRecord,
    AuditEventRecord,
    ChargeAttemptRecord,
    DocumentRecord,
    OutboxRecord,
    SubscriptionRecord,
)
from billing.persistence.webhook_events import WebhookEventRecord
from tests.support.aws import TABLE_SETTINGS, resources_of_type

MODELS: dict[str, type[Model]] = {
    "AccountsTable": AccountRecord,
    "SubscriptionsTable": SubscriptionRecord,
    "ChargeAttemptsTable": ChargeAttemptRecord,
    "AuditEventsTable": AuditEventRecord,
    "OutboxTable": OutboxRecord,
    "WebhookEventsTable": WebhookEventRecord,
    "DocumentsTable": DocumentRecord,
}


def _keys(schema: Sequence[Mapping[str, Any]]) -> set[tuple[str, str]]:
    return {(key["AttributeName"], key["KeyType"]) for key in schema}


def _projection(projection: dict[str, Any]) -> tuple[str, list[str]]:
    return projection["ProjectionType"], sorted(projection.get("NonKeyAttributes", []))


@pytest.mark.parametrize("logical_id", sorted(MODELS))
def test_model_matches_template(logical_id: str) -> None:
    properties: dict[str, Any] = resources_of_type("AWS::DynamoDB::Table")[logical_id]["Properties"]
    schema = MODELS[logical_id]._get_schema()
    assert _keys(schema["key_schema"]) == _keys(properties["KeySchema"])
    assert sorted(schema["attribute_definitions"], key=str) == sorted(
        properties["AttributeDefinitions"], key=str
    )
    template_indexes = {
        index["IndexName"]: (_keys(index["KeySchema"]), _projection(index["Projection"]))
        for index in properties.get("GlobalSecondaryIndexes", [])
    }
    model_indexes = {
        index["index_name"]: (_keys(index["key_schema"]), _projection(index["projection"]))
        for index in schema["global_secondary_indexes"]
    }
    assert model_indexes == template_indexes


def test_every_table_has_a_setting() -> None:
    tables = set(resources_of_type("AWS::DynamoDB::Table"))
    assert tables == set(TABLE_SETTINGS)
    # The idempotency table belongs to Powertools, which has its own model of it.
    assert tables - set(MODELS) == {"IdempotencyTable"}
