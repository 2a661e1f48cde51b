"""The deployment as a whole, read from template.yaml and samconfig.toml: nothing is left without
a dead-letter destination, a log retention or an alarm route, data outlives the stack, every
resource an operator looks for is in the Outputs, and production refuses the placeholders."""

from __future__ import annotations

import shlex
import tomllib
from collections.abc import Mapping
from typing import Any

import pytest

from devstack.resources import parameter_value
from tests.support.aws import TEMPLATE, resources_of_type, template

SAMCONFIG = TEMPLATE.parent / "samconfig.toml"
STAGES = ("dev", "prod")


def _functions() -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in resources_of_type("AWS::Serverless::Function").items()
    }


def _ref(value: Any) -> str:
    assert isinstance(value, Mapping), value
    assert set(value) == {"Ref"}, value
    reference: str = value["Ref"]
    return reference


def _arn_of(value: Any) -> str:
    """The logical id of a ``!GetAtt X.Arn``."""
    assert isinstance(value, Mapping), value
    assert set(value) == {"Fn::GetAtt"}, value
    logical_id, attribute = value["Fn::GetAtt"]
    assert attribute == "Arn", value
    return str(logical_id)


@pytest.mark.parametrize("logical_id", sorted(_functions()))
def test_every_function_logs_to_its_own_group_with_the_retention_parameter(
    logical_id: str,
) -> None:
    group = _ref(_functions()[logical_id]["LoggingConfig"]["LogGroup"])
    others = [
        _ref(properties["LoggingConfig"]["LogGroup"])
        for name, properties in _functions().items()
        if name != logical_id
    ]

    assert group not in others
    resource = template()["Resources"][group]
    assert resource["Type"] == "AWS::Logs::LogGroup"
    assert _ref(resource["Properties"]["RetentionInDays"]) == "LogRetentionDays"


def test_no_log_group_is_left_without_a_function() -> None:
    used = {_ref(properties["LoggingConfig"]["LogGroup"]) for properties in _functions().values()}

    assert set(resources_of_type("AWS::Logs::LogGroup")) == used


def test_every_queue_redrives_to_a_dead_letter_queue_or_is_one() -> None:
    queues = resources_of_type("AWS::SQS::Queue")
    dead_letter = {
        _arn_of(properties["RedrivePolicy"]["deadLetterTargetArn"])
        for properties in (queue["Properties"] for queue in queues.values())
        if "RedrivePolicy" in properties
    }
    for function in _functions().values():
        for event in (function.get("Events") or {}).values():
            if "DeadLetterConfig" in event["Properties"]:
                dead_letter.add(_arn_of(event["Properties"]["DeadLetterConfig"]["Arn"]))
            # A stream mapping's OnFailure destination: what it gave up on.
            if on_failure := (event["Properties"].get("DestinationConfig") or {}).get("OnFailure"):
                dead_letter.add(_arn_of(on_failure["Destination"]))
        if failure := (function.get("EventInvokeConfig") or {}).get("DestinationConfig"):
            dead_letter.add(_arn_of(failure["OnFailure"]["Destination"]))

    sources = {name for name, queue in queues.items() if "RedrivePolicy" in queue["Properties"]}
    assert sources | dead_letter == set(queues)
    assert not sources & dead_letter, "a dead-letter queue has a dead-letter queue of its own"


@pytest.mark.parametrize(
    "logical_id",
    sorted(
        name
        for name, function in _functions().items()
        if any(event["Type"] == "ScheduleV2" for event in (function.get("Events") or {}).values())
    ),
)
def test_every_scheduled_function_has_a_dead_letter_destination_for_both_failures(
    logical_id: str,
) -> None:
    function = _functions()[logical_id]
    schedules = [event for event in function["Events"].values() if event["Type"] == "ScheduleV2"]
    destination = function["EventInvokeConfig"]["DestinationConfig"]["OnFailure"]

    # The scheduler could not invoke it; the invocation ran and failed.
    assert all("DeadLetterConfig" in event["Properties"] for event in schedules)
    assert destination["Type"] == "SQS"


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::CloudWatch::Alarm")))
def test_every_alarm_notifies_the_operations_topic(logical_id: str) -> None:
    alarm = resources_of_type("AWS::CloudWatch::Alarm")[logical_id]["Properties"]

    assert [_ref(action) for action in alarm["AlarmActions"]] == ["OperationsTopic"]
    assert alarm["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("logical_id", sorted(resources_of_type("AWS::DynamoDB::Table")))
def test_tables_are_encrypted_and_those_with_records_outlive_the_stack(logical_id: str) -> None:
    table = resources_of_type("AWS::DynamoDB::Table")[logical_id]
    properties = table["Properties"]

    assert properties["SSESpecification"] == {"SSEEnabled": True}
    if "TimeToLiveSpecification" in properties:
        return  # Expiring by design (idempotency records): nothing to keep.
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["DeletionProtectionEnabled"] == {"Fn::If": ["IsProd", True, False]}


def test_the_user_pool_outlives_the_stack() -> None:
    pool = template()["Resources"]["UserPool"]

    assert (pool["DeletionPolicy"], pool["UpdateReplacePolicy"]) == ("Retain", "Retain")
    assert pool["Properties"]["DeletionProtection"] == {"Fn::If": ["IsProd", "ACTIVE", "INACTIVE"]}


@pytest.mark.parametrize(
    "kind",
    ["AWS::DynamoDB::Table", "AWS::SQS::Queue", "AWS::SNS::Topic", "AWS::SecretsManager::Secret"],
)
def test_every_table_queue_topic_and_secret_is_in_the_outputs(kind: str) -> None:
    referenced = {
        output["Value"]["Ref"]
        for output in template()["Outputs"].values()
        if isinstance(output["Value"], Mapping) and "Ref" in output["Value"]
    }

    assert set(resources_of_type(kind)) <= referenced


def _overrides(stage: str) -> dict[str, str]:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    text = config[stage]["deploy"]["parameters"]["parameter_overrides"]
    return dict(pair.split("=", 1) for pair in shlex.split(text))


def _evaluate(value: Any, parameters: Mapping[str, str]) -> Any:
    """CloudFormation's rule functions this template uses: Ref, Fn::Equals and Fn::Not."""
    if isinstance(value, Mapping):
        [(function, argument)] = value.items()
        if function == "Ref":
            return parameter_value(template(), argument, parameters)
        if function == "Fn::Equals":
            left, right = (_evaluate(item, parameters) for item in argument)
            return left == right
        if function == "Fn::Not":
            [inner] = argument
            return not _evaluate(inner, parameters)
        raise AssertionError(f"no evaluator for {function}")
    return str(value)


def _refused(parameters: Mapping[str, str]) -> list[str]:
    """The descriptions of the template's rule assertions `parameters` fail."""
    failed = []
    for rule in template()["Rules"].values():
        if "RuleCondition" in rule and not _evaluate(rule["RuleCondition"], parameters):
            continue
        failed += [
            check["AssertDescription"]
            for check in rule["Assertions"]
            if not _evaluate(check["Assert"], parameters)
        ]
    return failed


def test_samconfig_deploys_dev_and_prod_as_separate_stacks() -> None:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    names = {stage: config[stage]["deploy"]["parameters"]["stack_name"] for stage in STAGES}

    assert len(set(names.values())) == len(STAGES)
    assert {stage: _overrides(stage)["Stage"] for stage in STAGES} == {s: s for s in STAGES}


@pytest.mark.parametrize("stage", STAGES)
def test_samconfig_overrides_are_template_parameters_with_allowed_values(stage: str) -> None:
    declared = template()["Parameters"]

    for name, value in _overrides(stage).items():
        assert name in declared, f"{stage}: {name} is not a parameter of template.yaml"
        allowed = declared[name].get("AllowedValues")
        assert allowed is None or value in [str(v) for v in allowed], (stage, name, value)


def test_dev_deploys_with_the_development_defaults() -> None:
    assert _refused(_overrides("dev")) == []


def test_prod_refuses_every_development_placeholder() -> None:
    refused = _refused(_overrides("prod"))

    assert len(refused) == 7
    assert all(text.startswith("Set ") for text in refused)


def test_prod_deploys_once_the_sender_pages_and_sales_contact_are_set() -> None:
    parameters = _overrides("prod") | {
        "EmailIdentity": "billing.example.org",
        "EmailSender": "billing@billing.example.org",
        "PayPalReturnUrl": "https://app.example.org/billing/paypal/return",
        "PayPalCancelUrl": "https://app.example.org/billing/paypal/cancel",
        "CustomerPortalUrl": "https://app.example.org/billing",
        "SalesContactEmail": "sales@example.org",
        "StripePublishableKey": "pk_live_51example",
    }

    assert _refused(parameters) == []
    assert _refused(parameters | {"PayPalApiBase": "https://api-m.sandbox.paypal.com"}) == [
        "Production charges through PayPal's live API."
    ]
    assert _refused(parameters | {"ViesApiBase": "http://127.0.0.1:3004"}) == [
        "Production checks VAT IDs with the EU's VIES service."
    ]
