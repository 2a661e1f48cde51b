"""The template's tables (with their streams), queues, topics, SES configuration sets and S3
buckets created against any boto3 endpoint (moto in-process or moto server), and the environment
each function would get in Lambda, resolved against them."""

from __future__ import annotations

import graphlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.template import TemplateError, globals_for, resources_of_type

LOCAL_ACCOUNT_ID = "123456789012"
"""moto's default account, which every ARN it makes carries."""

SET_DIRECTLY_LOCALLY: frozenset[str] = frozenset({"AWS::SecretsManager::Secret"})
"""Resource types a function's environment refers to that the local stack does not create: the
variable is left out (``*_SECRET_NAME`` would send the code to Secrets Manager); the local stack
sets the values themselves instead: `provider_variables`."""

# What CreateTable needs; the rest (encryption, recovery, TTL, deletion protection) changes
# nothing a local table does.
_TABLE_PROPERTIES = (
    "AttributeDefinitions",
    "KeySchema",
    "BillingMode",
    "ProvisionedThroughput",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "StreamSpecification",
)
_INDEX_PROPERTIES = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput")
# CloudFormation's queue properties that are SetQueueAttributes names too; encryption keys and
# policies are left out, RedrivePolicy is resolved on its own.
_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "SqsManagedSseEnabled",
)
LOCAL_STRIPE_KEY = "sk_test_local"
"""Any ``sk_test_`` key: localstripe accepts every one."""


def provider_variables(stripe_url: str, paypal_url: str) -> dict[str, str]:
    """The payment-provider settings of a function pointed at localstripe and the PayPal
    stand-in, set directly (never through Secrets Manager)."""
    return {
        "STRIPE_API_KEY": LOCAL_STRIPE_KEY,
        "STRIPE_API_BASE": stripe_url,
        "PAYPAL_CLIENT_ID": CLIENT_ID,
        "PAYPAL_CLIENT_SECRET": CLIENT_SECRET,
        "PAYPAL_API_BASE": paypal_url,
    }


_PSEUDO_PARAMETERS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
_SUB_VARIABLE = re.compile(r"\$\{(?!!)([^}]+)\}")


class UnresolvableValue(TemplateError):
    """A value the local stack cannot work out: a reference to a resource it does not create,
    an attribute it does not know, a parameter without a default, an unsupported intrinsic."""


class SetDirectly(UnresolvableValue):
    """A reference to a resource of `SET_DIRECTLY_LOCALLY`: left out of local environments."""


@dataclass(frozen=True)
class Table:
    name: str
    arn: str
    stream_arn: str | None = None
    """``LatestStreamArn``: the table's stream, when its template gives it a
    ``StreamSpecification``."""


@dataclass(frozen=True)
class Queue:
    name: str
    url: str
    arn: str


@dataclass(frozen=True)
class Topic:
    name: str
    arn: str


@dataclass(frozen=True)
class ConfigurationSet:
    """An SES configuration set: ``Ref`` gives its name."""

    name: str


@dataclass(frozen=True)
class Bucket:
    """An S3 bucket: ``Ref`` gives its name."""

    name: str

    @property
    def arn(self) -> str:
        return f"arn:aws:s3:::{self.name}"


@dataclass(frozen=True)
class Secret:
    name: str
    arn: str


@dataclass(frozen=True)
class LocalResources:
    """The created resources by logical id, and what ``Ref`` / ``Fn::GetAtt`` give for them."""

    region: str
    tables: Mapping[str, Table] = field(default_factory=dict)
    queues: Mapping[str, Queue] = field(default_factory=dict)
    topics: Mapping[str, Topic] = field(default_factory=dict)
    configuration_sets: Mapping[str, ConfigurationSet] = field(default_factory=dict)
    """Created only when `create_resources` is given an SES client."""
    secrets: Mapping[str, Secret] = field(default_factory=dict)
    """Empty in the local stack (`SET_DIRECTLY_LOCALLY`); tests of the deployed wiring add them."""
    buckets: Mapping[str, Bucket] = field(default_factory=dict)
    """Created only when `create_resources` is given an S3 client."""

    def ref(self, logical_id: str) -> str | None:
        """As CloudFormation's ``Ref``: table name, queue URL, topic ARN, configuration set
        name, secret ARN or bucket name; None if not created."""
        refs: tuple[tuple[Mapping[str, Any], Callable[[Any], str]], ...] = (
            (self.tables, lambda table: table.name),
            (self.queues, lambda queue: queue.url),
            (self.topics, lambda topic: topic.arn),
            (self.configuration_sets, lambda configuration_set: configuration_set.name),
            (self.secrets, lambda secret: secret.arn),
            (self.buckets, lambda bucket: bucket.name),
        )
        for created, reference in refs:
            if logical_id in created:
                return reference(created[logical_id])
        return None

    def get_att(self, logical_id: str, attribute: str) -> str | None:
        """As CloudFormation's ``Fn::GetAtt``, for the attributes the stack can know."""
        attributes: dict[str, str] = {}
        if table := self.tables.get(logical_id):
            attributes = {"Arn": table.arn}
            if table.stream_arn is not None:
                attributes["StreamArn"] = table.stream_arn
        elif queue := self.queues.get(logical_id):
            attributes = {"Arn": queue.arn, "QueueName": queue.name, "QueueUrl": queue.url}
        elif topic := self.topics.get(logical_id):
            attributes = {"TopicArn": topic.arn, "TopicName": topic.name}
        elif bucket := self.buckets.get(logical_id):
            attributes = {"Arn": bucket.arn}
        return attributes.get(attribute)


@dataclass(frozen=True)
class FunctionEnvironment:
    variables: dict[str, str]
    """What the function reads, resolved against the local resources."""
    unset: dict[str, str]
    """Variables deliberately left out (references to `SET_DIRECTLY_LOCALLY`) → why."""


def create_tables(template: Mapping[str, Any], dynamodb: Any, prefix: str = "") -> dict[str, Table]:
    """Create every ``AWS::DynamoDB::Table`` as ``prefix + logical id``; logical id → table."""
    tables = {}
    for logical_id, resource in sorted(resources_of_type(template, "AWS::DynamoDB::Table").items()):
        request = _create_table_request(resource.get("Properties") or {})
        created = dynamodb.create_table(TableName=f"{prefix}{logical_id}", **request)
        description = created["TableDescription"]
        tables[logical_id] = Table(
            description["TableName"], description["TableArn"], description.get("LatestStreamArn")
        )
    return tables


def _create_table_request(properties: Mapping[str, Any]) -> dict[str, Any]:
    request = {key: properties[key] for key in _TABLE_PROPERTIES if key in properties}
    for indexes in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if indexes in request:
            request[indexes] = [
                {key: index[key] for key in _INDEX_PROPERTIES if key in index}
                for index in request[indexes]
            ]
    if "StreamSpecification" in request:
        # CloudFormation has a stream whenever the specification is there; the API asks.
        request["StreamSpecification"] = {"StreamEnabled": True, **request["StreamSpecification"]}
    return request


def create_queues(template: Mapping[str, Any], sqs: Any, prefix: str = "") -> dict[str, Queue]:
    """Create every ``AWS::SQS::Queue`` as ``prefix + logical id``, each after the queues its
    properties refer to (a dead-letter queue before its sources); logical id → queue."""
    definitions = resources_of_type(template, "AWS::SQS::Queue")
    queues: dict[str, Queue] = {}
    # Filled as queues are created, so a redrive policy finds its dead-letter queue's ARN.
    created = LocalResources(region=sqs.meta.region_name, queues=queues)
    for logical_id in _dependency_order(definitions):
        properties = definitions[logical_id].get("Properties") or {}
        if properties.get("FifoQueue"):
            raise TemplateError(f"{logical_id}: FIFO queues have no local stand-in yet")
        attributes = {key: _text(properties[key]) for key in _QUEUE_ATTRIBUTES if key in properties}
        if "RedrivePolicy" in properties:
            policy = properties["RedrivePolicy"]
            attributes["RedrivePolicy"] = json.dumps(
                {
                    key: resolve(value, template, created) if isinstance(value, dict) else value
                    for key, value in policy.items()
                }
            )
        name = f"{prefix}{logical_id}"
        url: str = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
        queues[logical_id] = Queue(name, url, arn["QueueArn"])
    return queues


def _dependency_order(definitions: Mapping[str, Mapping[str, Any]]) -> list[str]:
    graph = {
        logical_id: sorted(references(definition.get("Properties")) & set(definitions))
        for logical_id, definition in sorted(definitions.items())
    }
    try:
        return list(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as error:
        raise TemplateError(f"resources refer to each other in a cycle: {error.args[1]}") from error


def references(value: Any) -> set[str]:
    """Every logical id (or parameter) a value refers to through Ref, GetAtt or Sub."""
    if isinstance(value, list):
        return set().union(*map(references, value))
    if not isinstance(value, dict):
        return set()
    if isinstance(value.get("Ref"), str):
        return {value["Ref"]}
    if isinstance(value.get("Fn::GetAtt"), list):
        return {value["Fn::GetAtt"][0]}
    if isinstance(value.get("Fn::Sub"), str):
        return {name.split(".")[0] for name in _SUB_VARIABLE.findall(value["Fn::Sub"])}
    return set().union(*map(references, value.values()))


def create_topics(template: Mapping[str, Any], sns: Any, prefix: str = "") -> dict[str, Topic]:
    """Create every ``AWS::SNS::Topic`` as ``prefix + logical id``; logical id → topic."""
    topics = {}
    for logical_id, resource in sorted(resources_of_type(template, "AWS::SNS::Topic").items()):
        if (resource.get("Properties") or {}).get("FifoTopic"):
            raise TemplateError(f"{logical_id}: FIFO topics have no local stand-in yet")
        name = f"{prefix}{logical_id}"
        topics[logical_id] = Topic(name, sns.create_topic(Name=name)["TopicArn"])
    return topics


def create_configuration_sets(
    template: Mapping[str, Any], sesv2: Any, prefix: str = ""
) -> dict[str, ConfigurationSet]:
    """Create every ``AWS::SES::ConfigurationSet`` as ``prefix + logical id`` (like the other
    resources, not the template's ``Name``: two prefixes make two sets); logical id → set. Its
    event destinations are not created: nothing sends SES's events locally
    (docs/local-stack.md)."""
    sets = {}
    for logical_id in sorted(resources_of_type(template, "AWS::SES::ConfigurationSet")):
        name = f"{prefix}{logical_id}"
        sesv2.create_configuration_set(ConfigurationSetName=name)
        sets[logical_id] = ConfigurationSet(name)
    return sets


def create_buckets(template: Mapping[str, Any], s3: Any, prefix: str = "") -> dict[str, Bucket]:
    """Create every ``AWS::S3::Bucket`` as ``prefix + logical id`` in lower case (S3's names
    have no capitals), versioned and with its default Object Lock retention as the template
    says, so that writes meet the same rules as in AWS (a locked bucket refuses a put without a
    checksum); encryption, public access and ownership change nothing a local bucket does."""
    buckets = {}
    for logical_id, resource in sorted(resources_of_type(template, "AWS::S3::Bucket").items()):
        properties = resource.get("Properties") or {}
        name = f"{prefix}{logical_id}".lower()
        locked = properties.get("ObjectLockEnabled") is True
        s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=locked)
        if "VersioningConfiguration" in properties:
            s3.put_bucket_versioning(
                Bucket=name, VersioningConfiguration=properties["VersioningConfiguration"]
            )
        if locked and "ObjectLockConfiguration" in properties:
            s3.put_object_lock_configuration(
                Bucket=name, ObjectLockConfiguration=properties["ObjectLockConfiguration"]
            )
        buckets[logical_id] = Bucket(name)
    return buckets


def create_resources(
    template: Mapping[str, Any],
    *,
    dynamodb: Any,
    sqs: Any,
    sns: Any,
    sesv2: Any | None = None,
    s3: Any | None = None,
    prefix: str = "",
) -> LocalResources:
    """Every table, queue and topic of the template, with `sesv2` every SES configuration set
    and with `s3` every bucket, named ``prefix + logical id``."""
    return LocalResources(
        region=sqs.meta.region_name,
        tables=create_tables(template, dynamodb, prefix),
        queues=create_queues(template, sqs, prefix),
        topics=create_topics(template, sns, prefix),
        configuration_sets=(
            {} if sesv2 is None else create_configuration_sets(template, sesv2, prefix)
        ),
        buckets={} if s3 is None else create_buckets(template, s3, prefix),
    )


def table_variables(template: Mapping[str, Any]) -> dict[str, str]:
    """Environment variable → logical id of the table whose name it carries (``!Ref Table``),
    from the functions' Globals and each function's own variables."""
    tables = resources_of_type(template, "AWS::DynamoDB::Table")
    variables = dict(_variables(globals_for(template, "Function")))
    for function in resources_of_type(template, "AWS::Serverless::Function").values():
        variables.update(_variables(function.get("Properties") or {}))
    return {
        name: value["Ref"]
        for name, value in variables.items()
        if isinstance(value, dict) and value.get("Ref") in tables
    }


def _variables(function_properties: Mapping[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = (function_properties.get("Environment") or {}).get(
        "Variables"
    ) or {}
    return variables


def function_environment(
    template: Mapping[str, Any],
    function: str,
    resources: LocalResources,
    parameters: Mapping[str, str] | None = None,
) -> FunctionEnvironment:
    """The environment Lambda would give `function` (a logical id): the Globals' variables,
    then the function's own, resolved against `resources`; parameters take `parameters` or
    their Default. References to `SET_DIRECTLY_LOCALLY` are left out and listed in ``unset``;
    anything else unresolvable raises `UnresolvableValue` naming the variable."""
    definition = resources_of_type(template, "AWS::Serverless::Function").get(function)
    if definition is None:
        raise TemplateError(f"{function} is not an AWS::Serverless::Function of the template")
    declared = {
        **_variables(globals_for(template, "Function")),
        **_variables(definition.get("Properties") or {}),
    }
    variables, unset = {}, {}
    for name, value in declared.items():
        try:
            variables[name] = resolve(value, template, resources, parameters)
        except SetDirectly as error:
            unset[name] = str(error)
        except UnresolvableValue as error:
            raise UnresolvableValue(f"{function}: {name}: {error}") from error
    return FunctionEnvironment(variables, unset)


def environment(
    template: Mapping[str, Any],
    function: str,
    resources: LocalResources,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """`function_environment`'s variables: what to put in ``os.environ`` for `function`."""
    return function_environment(template, function, resources, parameters).variables


def parameter_value(
    template: Mapping[str, Any], name: str, parameters: Mapping[str, str] | None = None
) -> str:
    """A template parameter's value: as given in `parameters`, else its Default."""
    if parameters and name in parameters:
        return parameters[name]
    declared = (template.get("Parameters") or {}).get(name)
    if declared is None or "Default" not in declared:
        raise UnresolvableValue(f"parameter {name} has no Default and no value was given")
    return _text(declared["Default"])


def resolve(
    value: Any,
    template: Mapping[str, Any],
    resources: LocalResources,
    parameters: Mapping[str, str] | None = None,
) -> str:
    """A value of the template (a scalar, ``Ref``, ``Fn::GetAtt`` or ``Fn::Sub``) as
    CloudFormation would give it with these resources; parameters take `parameters` or their
    Default. Raises `UnresolvableValue`."""
    if isinstance(value, dict) and len(value) == 1:
        [(intrinsic, argument)] = value.items()
        if intrinsic == "Ref" and isinstance(argument, str):
            return _ref(argument, template, resources, parameters)
        if intrinsic == "Fn::GetAtt" and isinstance(argument, list) and len(argument) == 2:
            return _get_att(argument[0], argument[1], template, resources)
        if intrinsic == "Fn::Sub" and isinstance(argument, str):
            return _SUB_VARIABLE.sub(
                lambda found: _sub_variable(found[1], template, resources, parameters), argument
            ).replace("${!", "${")
    if isinstance(value, dict | list) or value is None:
        raise UnresolvableValue(f"{value!r} cannot be worked out locally")
    return _text(value)


def _ref(
    name: str,
    template: Mapping[str, Any],
    resources: LocalResources,
    parameters: Mapping[str, str] | None,
) -> str:
    if (reference := resources.ref(name)) is not None:
        return reference
    if name in (template.get("Parameters") or {}):
        return parameter_value(template, name, parameters)
    pseudo = {**_PSEUDO_PARAMETERS, "AWS::Region": resources.region}
    pseudo["AWS::AccountId"] = LOCAL_ACCOUNT_ID
    if name in pseudo:
        return pseudo[name]
    raise _not_created(name, template)


def _get_att(
    logical_id: str, attribute: str, template: Mapping[str, Any], resources: LocalResources
) -> str:
    value = resources.get_att(logical_id, attribute)
    if value is None:
        if resources.ref(logical_id) is not None:
            raise UnresolvableValue(f"{logical_id}.{attribute} is not known locally")
        raise _not_created(logical_id, template)
    return value


def _sub_variable(
    name: str,
    template: Mapping[str, Any],
    resources: LocalResources,
    parameters: Mapping[str, str] | None,
) -> str:
    if "." in name and not name.startswith("AWS::"):
        logical_id, attribute = name.split(".", 1)
        return _get_att(logical_id, attribute, template, resources)
    return _ref(name, template, resources, parameters)


def _not_created(logical_id: str, template: Mapping[str, Any]) -> UnresolvableValue:
    kind = (template["Resources"].get(logical_id) or {}).get("Type")
    if kind in SET_DIRECTLY_LOCALLY:
        return SetDirectly(f"{logical_id} is an {kind}: set its values directly locally")
    if kind is None:
        return UnresolvableValue(f"{logical_id} is neither a resource nor a parameter")
    if kind == "AWS::SES::ConfigurationSet":
        return UnresolvableValue(
            f"{logical_id} ({kind}) is not created locally: give create_resources an sesv2 client"
        )
    if kind == "AWS::S3::Bucket":
        return UnresolvableValue(
            f"{logical_id} ({kind}) is not created locally: give create_resources an s3 client"
        )
    return UnresolvableValue(f"{logical_id} ({kind}) is not created locally")


def _text(value: Any) -> str:
    """A scalar as CloudFormation passes it on: YAML booleans as ``true`` / ``false``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
