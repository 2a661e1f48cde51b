"""IAM as deployed, and as the code uses it: each function's role from the template SAM's
transform makes (`scripts/sam_transform.py`, run with the SAM CLI's own Python), its statements
resolved to the ARNs of the test's resources, and every AWS request a handler sends recorded as
the IAM actions and resources it needs."""

from __future__ import annotations

import fnmatch
import json
import subprocess
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.utils import parseaddr
from functools import cache
from typing import Any

import botocore.client

from devstack.api_gateway import Handler
from devstack.resources import LOCAL_ACCOUNT_ID, LocalResources, parameter_value, resolve
from tests.support.aws import TEMPLATE, template

SAM_PYTHON = TEMPLATE.parent / ".tools" / "sam" / "bin" / "python"
TRANSFORM = TEMPLATE.parent / "scripts" / "sam_transform.py"

Permission = tuple[str, str]
"""An IAM action and the ARN of the resource it is allowed (or needed) on."""


@cache
def transformed_template() -> dict[str, Any]:
    """template.yaml after the SAM transform: what CloudFormation receives from `sam deploy`."""
    if not SAM_PYTHON.exists():
        raise AssertionError(f"{SAM_PYTHON} is missing: run `make build` (`make test` does)")
    completed = subprocess.run(
        [str(SAM_PYTHON), str(TRANSFORM), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@dataclass(frozen=True)
class Role:
    """A function's execution role: the statements of its inline policies by policy name, and
    the managed policies attached."""

    statements: Mapping[str, list[dict[str, Any]]]
    managed: frozenset[str]


def role_of(function: str) -> Role:
    resources = transformed_template()["Resources"]
    role_arn = resources[function]["Properties"]["Role"]
    assert set(role_arn) == {"Fn::GetAtt"}, f"{function} has a role of its own: {role_arn}"
    properties = resources[role_arn["Fn::GetAtt"][0]]["Properties"]
    return Role(
        statements={
            policy["PolicyName"]: list(policy["PolicyDocument"]["Statement"])
            for policy in properties.get("Policies", [])
        },
        managed=frozenset(
            arn if isinstance(arn, str) else json.dumps(arn)
            for arn in properties.get("ManagedPolicyArns", [])
        ),
    )


def listed(value: Any) -> list[Any]:
    """A statement's Action or Resource as a list: IAM takes one value or a list."""
    return value if isinstance(value, list) else [value]


def granted(statement: Mapping[str, Any], resources: LocalResources) -> set[Permission]:
    """Every (action, resource ARN) an Allow statement grants, its intrinsics resolved against
    the test's resources as CloudFormation would resolve them against the stack's."""
    assert statement["Effect"] == "Allow", statement
    assert set(statement) == {"Effect", "Action", "Resource"}, statement
    arns = [resolve(value, template(), resources) for value in listed(statement["Resource"])]
    return {(action, arn) for action in listed(statement["Action"]) for arn in arns}


def allows(statements: Collection[Permission], needed: Permission) -> bool:
    """Whether one of the granted permissions covers `needed`, with IAM's ``*``/``?`` matching."""
    action, arn = needed
    return any(
        fnmatch.fnmatchcase(action.lower(), granted_action.lower())
        and fnmatch.fnmatchcase(arn, granted_arn)
        for granted_action, granted_arn in statements
    )


@dataclass(frozen=True)
class Call:
    service: str
    """The IAM service prefix (botocore's signing name)."""
    operation: str
    params: Mapping[str, Any]


_WRITE_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Arns:
    """ARNs of the test's resources, as IAM sees the requests that name them."""

    resources: LocalResources

    def table(self, name: str, index: str | None = None) -> str:
        arn = f"arn:aws:dynamodb:{self.resources.region}:{LOCAL_ACCOUNT_ID}:table/{name}"
        return arn if index is None else f"{arn}/index/{index}"

    def queue(self, url: str) -> str:
        [arn] = [queue.arn for queue in self.resources.queues.values() if queue.url == url]
        return arn

    def secret(self, name_or_arn: str) -> str:
        [arn] = [
            secret.arn
            for secret in self.resources.secrets.values()
            if name_or_arn in {secret.name, secret.arn}
        ]
        return arn

    def email_identity(self, sender: str) -> str:
        """The SES identity a From address is sent under: the configured identity when the
        address is it or within its domain, else the address itself."""
        configured = parameter_value(template(), "EmailIdentity")
        address = parseaddr(sender)[1]
        identity = configured if configured in {address, address.partition("@")[2]} else address
        return f"arn:aws:ses:{self.resources.region}:{LOCAL_ACCOUNT_ID}:identity/{identity}"

    def configuration_set(self, name: str) -> str:
        return f"arn:aws:ses:{self.resources.region}:{LOCAL_ACCOUNT_ID}:configuration-set/{name}"

    @staticmethod
    def object(bucket: str, key: str) -> str:
        return f"arn:aws:s3:::{bucket}/{key}"


def _send_email(params: Mapping[str, Any], arns: Arns) -> set[Permission]:
    """SES authorises a send on the sender's identity and, when one is named, on the
    configuration set it goes through."""
    needed = {
        ("ses:SendEmail", arns.email_identity(params.get("FromEmailAddress") or params["Source"]))
    }
    if name := params.get("ConfigurationSetName"):
        needed.add(("ses:SendEmail", arns.configuration_set(name)))
    return needed


def _transact_writes(params: Mapping[str, Any], arns: Arns) -> set[Permission]:
    return {
        (f"dynamodb:{_WRITE_ACTIONS[kind]}", arns.table(body["TableName"]))
        for item in params["TransactItems"]
        for kind, body in item.items()
    }


def _transact_gets(params: Mapping[str, Any], arns: Arns) -> set[Permission]:
    return {
        ("dynamodb:GetItem", arns.table(item["Get"]["TableName"]))
        for item in params["TransactItems"]
    }


def _on_table(action: str) -> Rule:
    return lambda params, arns: {(action, arns.table(params["TableName"], params.get("IndexName")))}


def _on_queue(action: str) -> Rule:
    return lambda params, arns: {(action, arns.queue(params["QueueUrl"]))}


def _on_object(action: str) -> Rule:
    return lambda params, arns: {(action, arns.object(params["Bucket"], params["Key"]))}


Rule = Callable[[Mapping[str, Any], Arns], set[Permission]]

_RULES: Mapping[tuple[str, str], Rule] = {
    ("dynamodb", "TransactWriteItems"): _transact_writes,
    ("dynamodb", "TransactGetItems"): _transact_gets,
    **{
        ("dynamodb", operation): _on_table(f"dynamodb:{operation}")
        for operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query", "Scan")
    },
    ("sqs", "SendMessage"): _on_queue("sqs:SendMessage"),
    ("sqs", "SendMessageBatch"): _on_queue("sqs:SendMessage"),
    ("sqs", "GetQueueAttributes"): _on_queue("sqs:GetQueueAttributes"),
    ("sns", "Publish"): lambda params, arns: {("sns:Publish", params["TopicArn"])},
    # SES v2 and v1 name the sender differently; both are ses:SendEmail.
    ("ses", "SendEmail"): _send_email,
    ("secretsmanager", "GetSecretValue"): lambda params, arns: {
        ("secretsmanager:GetSecretValue", arns.secret(params["SecretId"]))
    },
    ("s3", "PutObject"): _on_object("s3:PutObject"),
    # A presigned GET is sent by whoever follows the link, with the signer's permissions.
    ("s3", "GetObject"): _on_object("s3:GetObject"),
    ("s3", "HeadObject"): _on_object("s3:GetObject"),
}
"""The IAM permissions each kind of request needs (the Service Authorization Reference)."""


def needed(call: Call, arns: Arns) -> set[Permission]:
    """The IAM permissions one request needs. A request no rule knows fails the test, so that a
    new kind of call gets its rule (and its statement) deliberately."""
    rule = _RULES.get((call.service, call.operation))
    if rule is None:
        raise AssertionError(f"no IAM rule for {call.service}:{call.operation}: add it to _RULES")
    return rule(call.params, arns)


@dataclass
class CallRecorder:
    """The AWS requests each function's handler sends, by function logical id. Handlers run one
    at a time here (a handler may still use threads of its own).

    In Lambda every function has processes of its own, which fetch secrets and make clients for
    themselves; here they share one process, so `on_switch` forgets what the previous function
    made whenever another function's handler starts."""

    on_switch: Callable[[], None]
    calls: dict[str, list[Call]] = field(default_factory=dict)
    current: str | None = None
    last: str | None = None

    def attributed(self, handler: Handler) -> Handler:
        """`handler`, whose requests are recorded under the function its context names."""

        def run(event: Any, context: Any) -> Any:
            function: str = context.function_name
            assert self.current is None, f"{function} runs inside {self.current}"
            if function != self.last:
                self.on_switch()
            self.current = self.last = function
            self.calls.setdefault(function, [])
            try:
                return handler(event, context)
            finally:
                self.current = None

        return run

    def record(self, client: Any, operation: str, params: Mapping[str, Any]) -> None:
        if self.current is not None:
            service = client.meta.service_model.signing_name
            self.calls[self.current].append(Call(service, operation, dict(params)))


@contextmanager
def recording_calls(on_switch: Callable[[], None]) -> Iterator[CallRecorder]:
    """Record every request of every botocore client (PynamoDB's, boto3's, Powertools') sent
    while an `attributed` handler runs, and every request it presigns for someone else to send
    (an S3 download link) as the request it signs. Requests are sent unchanged."""
    recorder = CallRecorder(on_switch)
    original: Callable[..., Any] = botocore.client.BaseClient._make_api_call
    emit: Callable[..., Any] = botocore.client.BaseClient._emit_api_params

    def make_api_call(client: Any, operation: str, params: Mapping[str, Any]) -> Any:
        recorder.record(client, operation, params)
        return original(client, operation, params)

    def emit_api_params(
        client: Any, api_params: Mapping[str, Any], operation_model: Any, context: Any
    ) -> Any:
        if context.get("is_presign_request"):
            recorder.record(client, operation_model.name, api_params)
        return emit(client, api_params, operation_model, context)

    botocore.client.BaseClient._make_api_call = make_api_call
    botocore.client.BaseClient._emit_api_params = emit_api_params
    try:
        yield recorder
    finally:
        botocore.client.BaseClient._make_api_call = original
        botocore.client.BaseClient._emit_api_params = emit
