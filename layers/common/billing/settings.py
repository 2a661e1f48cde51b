"""Where the shared layer finds its tables, read once from the environment."""

from __future__ import annotations

import os
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field


class StorageSettings(BaseModel):
    """DynamoDB tables (names set by ``template.yaml``) and the due index's shard count."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    accounts_table: str = Field(alias="ACCOUNTS_TABLE", min_length=3)
    subscriptions_table: str = Field(alias="SUBSCRIPTIONS_TABLE", min_length=3)
    charge_attempts_table: str = Field(alias="CHARGE_ATTEMPTS_TABLE", min_length=3)
    audit_events_table: str = Field(alias="AUDIT_EVENTS_TABLE", min_length=3)
    due_index_shards: int = Field(default=16, alias="DUE_INDEX_SHARDS", ge=1, le=1000)
    """Changing it needs a migration: existing index entries keep the shard they were written in."""
    region: str = Field(default="us-east-1", alias="AWS_REGION")
    dynamodb_endpoint: str | None = Field(default=None, alias="DYNAMODB_ENDPOINT_URL")
    """Only set off AWS (moto server in the local stack)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> StorageSettings:
        return cls.model_validate(dict(os.environ if environ is None else environ))
