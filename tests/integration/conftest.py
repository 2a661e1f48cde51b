"""DynamoDB in moto (in-process), tables created from template.yaml, one set per test."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws

from billing.persistence.dynamodb import DynamoDBRepository
from billing.settings import StorageSettings
from tests.support.aws import DynamoDBRequests, create_tables, record_dynamodb_requests


@pytest.fixture
def dynamodb_requests() -> Iterator[DynamoDBRequests]:
    with record_dynamodb_requests() as recorder:
        yield recorder


@pytest.fixture
def storage_settings(dynamodb_requests: DynamoDBRequests) -> Iterator[StorageSettings]:
    with mock_aws():
        environment = create_tables(boto3.client("dynamodb", region_name="us-east-1"))
        yield StorageSettings.from_environment({**environment, "DUE_INDEX_SHARDS": "8"})


@pytest.fixture
def repository(
    storage_settings: StorageSettings, dynamodb_requests: DynamoDBRequests
) -> DynamoDBRepository:
    repository = DynamoDBRepository(storage_settings)
    dynamodb_requests.clear()
    return repository
