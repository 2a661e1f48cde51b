"""How the local stack reads its settings and the template: ports, how many execution
environments, the clock's start, one environment for every function, and where the handlers'
packages are."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
import pytest
from moto import mock_aws

from devstack.resources import LocalResources, create_resources
from devstack.stack import (
    ROOT,
    StackError,
    clock_start,
    code_paths,
    functions_environment,
    lambda_concurrency,
    ports,
)
from devstack.template import TemplateError, parse_template
from tests.support.aws import template


def test_ports_default_to_3000_and_up_and_follow_their_variables() -> None:
    assert sorted(ports({}).values()) == [3000, 3001, 3002, 3003, 3004]
    chosen = ports({"DEV_API_PORT": "8080", "DEV_MOTO_PORT": " "})
    assert sorted(chosen.values()) == [3001, 3002, 3003, 3004, 8080], "blank means the default"


def test_one_port_for_two_servers_is_refused() -> None:
    with pytest.raises(StackError, match="port 3001 is chosen twice"):
        ports({"DEV_API_PORT": "3001"})


def test_ten_execution_environments_at_most_unless_told() -> None:
    assert lambda_concurrency({}) == 10
    assert lambda_concurrency({"DEV_LAMBDA_CONCURRENCY": " 2 "}) == 2
    for refused in ("0", "many", "1001"):
        with pytest.raises(StackError, match="is not a number of execution environments"):
            lambda_concurrency({"DEV_LAMBDA_CONCURRENCY": refused})


def test_the_clock_starts_now_or_where_it_is_told() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    assert clock_start({}) >= before
    assert clock_start({"DEV_CLOCK_START": "2026-01-31T09:30:00Z"}) == datetime(
        2026, 1, 31, 9, 30, tzinfo=UTC
    )
    with pytest.raises(StackError, match="not an instant like 2026-01-31T09:30:00Z"):
        clock_start({"DEV_CLOCK_START": "yesterday"})


@mock_aws
def test_every_function_of_the_template_shares_one_environment() -> None:
    clients = {
        name: boto3.client(name, region_name="us-east-1")
        for name in ("dynamodb", "sqs", "sns", "sesv2", "s3")
    }
    resources = create_resources(template(), **clients)

    variables = functions_environment(template(), resources)

    assert variables["RENEWAL_QUEUE_URL"] == resources.queues["RenewalQueue"].url, "dispatcher's"
    assert variables["SALES_TOPIC_ARN"] == resources.topics["SalesTopic"].arn, "from Globals"
    assert variables["SUBSCRIPTIONS_TABLE"] == "SubscriptionsTable"
    assert variables["OUTBOX_TABLE"] == "OutboxTable"
    assert variables["SES_CONFIGURATION_SET"] == "EmailConfigurationSet", "the notify function's"
    assert clients["sesv2"].get_configuration_set(ConfigurationSetName="EmailConfigurationSet")
    assert "STRIPE_SECRET_NAME" not in variables, "set directly locally, never from a secret"
    assert variables["INVOICES_BUCKET"] == "invoicesbucket", "the subscriptions function's"


@mock_aws
def test_without_an_ses_client_a_configuration_set_is_not_created_and_says_so() -> None:
    clients = {
        name: boto3.client(name, region_name="us-east-1")
        for name in ("dynamodb", "sqs", "sns", "s3")
    }
    resources = create_resources(template(), **clients)

    with pytest.raises(TemplateError, match=r"EmailConfigurationSet .* give create_resources an"):
        functions_environment(template(), resources)


def test_two_functions_giving_one_variable_two_values_are_refused() -> None:
    clashing = parse_template(
        """
Resources:
  A: {Type: AWS::Serverless::Function, Properties: {Environment: {Variables: {MODE: fast}}}}
  B: {Type: AWS::Serverless::Function, Properties: {Environment: {Variables: {MODE: slow}}}}
"""
    )

    with pytest.raises(TemplateError, match="MODE is 'fast' for A but 'slow' for B"):
        functions_environment(clashing, LocalResources(region="us-east-1"))


def test_the_handlers_packages_are_found_where_their_code_uri_says() -> None:
    paths = code_paths(template(), ROOT)

    assert len(paths) == len(set(paths))
    assert str(ROOT / "functions/renew") in paths
    assert all((ROOT / path).is_dir() for path in paths)
