"""The check of a VAT ID made again before a charge (`VatIdChecks.refresh`) sends only the
requests every function that charges may send: it runs in whichever of them charges, and writes
the check as an update of the account (which they may make), never a replacement of it (which
only UpdateBillingFunction may). test_iam_policies.py's scenario does not reach it: its VIES
never fails to answer."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws

from billing.domain.accounts import Account, BillingInfo, VatIdCheck, VatIdStatus
from billing.operations.vat_ids import VatIdChecks
from billing.persistence.dynamodb import DynamoDBRepository
from billing.settings import StorageSettings
from devstack.resources import LOCAL_ACCOUNT_ID, LocalResources, Secret, create_resources
from tests.fakes import FakeVies
from tests.support.aws import TABLE_SETTINGS, resources_of_type, template
from tests.support.iam import Arns, Permission, allows, granted, needed, recording_calls, role_of

CHARGING = (
    "SubscriptionsFunction",
    "RetryNowFunction",
    "RenewalWorkerFunction",
    "UpdateBillingFunction",
)
NOW = datetime(2026, 1, 31, 9, 30, tzinfo=UTC)
VAT_ID = "BE0123456789"


def _refreshed(resources: LocalResources) -> set[Permission]:
    """What a refresh that confirms a due, unchecked VAT ID needs, as IAM sees its requests."""
    settings = StorageSettings.from_environment(
        {variable: resources.tables[table].name for table, variable in TABLE_SETTINGS.items()}
    )
    repository = DynamoDBRepository(settings)
    info = BillingInfo("Lotte", "f@voorbeeld.be", "Rue de la Loi 16", "Bruxelles", "BE")
    unchecked = VatIdCheck(VAT_ID, VatIdStatus.UNCHECKED, NOW, next_check_at=NOW)
    account = repository.save_account(
        Account(
            id="acct_be",
            email="f@voorbeeld.be",
            billing_info=replace(info, vat_id=VAT_ID),
            vat_id_check=unchecked,
        )
    )
    checks = VatIdChecks(repository, FakeVies(VAT_ID), clock=lambda: NOW + timedelta(hours=1))
    with recording_calls(on_switch=lambda: None) as recorder:
        run = recorder.attributed(lambda event, context: checks.refresh(account))
        refreshed = run({}, SimpleNamespace(function_name="refresh"))
    assert refreshed.vat_id_check.status is VatIdStatus.VALID, "the check was written"
    arns = Arns(resources)
    return set().union(*(needed(call, arns) for call in recorder.calls["refresh"]))


@pytest.fixture(scope="module")
def refresh_needs() -> tuple[LocalResources, set[Permission]]:
    with mock_aws():
        clients = {
            n: boto3.client(n, region_name="us-east-1") for n in ("dynamodb", "sqs", "sns", "s3")
        }
        created = create_resources(template(), **clients)
        # Named in the roles' statements; no request of a refresh reads them.
        secrets = {
            logical_id: Secret(
                logical_id,
                f"arn:aws:secretsmanager:us-east-1:{LOCAL_ACCOUNT_ID}:secret:{logical_id}",
            )
            for logical_id in resources_of_type("AWS::SecretsManager::Secret")
        }
        resources = replace(created, secrets=secrets)
        return resources, _refreshed(resources)


@pytest.mark.parametrize("function", CHARGING)
def test_the_check_made_again_before_a_charge_is_allowed_where_charges_are_made(
    function: str, refresh_needs: tuple[LocalResources, set[Permission]]
) -> None:
    resources, needs = refresh_needs
    statements = {
        permission
        for policy in role_of(function).statements.values()
        for statement in policy
        for permission in granted(statement, resources)
    }

    assert (
        "dynamodb:UpdateItem",
        Arns(resources).table(resources.tables["AccountsTable"].name),
    ) in needs
    assert sorted(p for p in needs if not allows(statements, p)) == []
