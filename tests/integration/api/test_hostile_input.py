"""Malformed and hostile requests to every operation of the OpenAPI document: never
a 5xx, every error in the API's shape with the status of its code, and a refusal changes nothing.

Hypothesis draws requests against a seeded state (an active subscription, a past-due one and a
partner-managed one), sent through the local API Gateway to the real handlers. The state is
seeded once per route family; a request that succeeds may change it, and becomes the new
baseline, while a refused one (4xx) must leave it exactly as it was.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.dynamodb.models import dynamodb_backends

from billing.api.http import STATUS
from billing.domain.errors import ErrorCode
from devstack.api_gateway import GatewayResponse, routes_from_template
from devstack.openapi import api_document
from tests.integration.api.conftest import Reached
from tests.support.api import Api, Client, expect_error
from tests.support.aws import TABLE_SETTINGS, template
from tests.support.stand_ins import StandIn

EXAMPLES_PER_FAMILY = 45
"""Requests per route family (six families): 270 requests, each family about five seconds on
an idle machine; the whole suite pays for every one of them on every change."""

ROLE: Mapping[tuple[str, str], str] = {
    ("GET", "/plans"): "customer",
    ("GET", "/subscriptions"): "customer",
    ("POST", "/subscriptions"): "customer",
    ("GET", "/subscriptions/{subscription_id}"): "customer",
    ("GET", "/subscriptions/{subscription_id}/payments"): "customer",
    ("GET", "/subscriptions/{subscription_id}/events"): "customer",
    ("GET", "/invoices/{number}"): "customer",
    ("POST", "/subscriptions/{subscription_id}/retry"): "customer",
    ("POST", "/subscriptions/{subscription_id}/cancel"): "customer",
    ("POST", "/subscriptions/{subscription_id}/resume"): "customer",
    ("GET", "/subscriptions/{subscription_id}/payments/{payment_id}/authentication"): "customer",
    (
        "POST",
        "/subscriptions/{subscription_id}/payments/{payment_id}/authentication/complete",
    ): "customer",
    ("GET", "/account/billing"): "customer",
    ("PUT", "/account/billing-info"): "customer",
    ("POST", "/account/payment-method/setup"): "customer",
    ("PUT", "/account/payment-method"): "customer",
    ("PUT", "/admin/accounts/{account_id}"): "admin",
    ("GET", "/admin/accounts/{account_id}"): "sales",
    ("POST", "/admin/accounts/{account_id}/subscriptions"): "partner",
    ("POST", "/admin/subscriptions/{subscription_id}/extend"): "partner",
    ("GET", "/admin/retry-requests"): "sales",
    ("GET", "/admin/accounts/{account_id}/events"): "sales",
    ("POST", "/admin/subscriptions/{subscription_id}/charge"): "sales",
    ("POST", "/admin/subscriptions/{subscription_id}/clear-dispute"): "sales",
    ("POST", "/admin/payments/{payment_id}/refund"): "sales",
    ("POST", "/webhooks/stripe"): "customer",
    ("POST", "/webhooks/paypal"): "customer",
}
"""Who sends each operation's requests: its customer, or the role the route is for. A new
operation must be added here."""

PARTNER = {"id": "partner_hostile", "name": "Hostile Reseller", "email": "ops@reseller.example"}

# --- the operations, from the OpenAPI document ---


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    """The OpenAPI path template: ``/subscriptions/{subscription_id}``."""
    family: str
    """The function (logical id in template.yaml) that answers it."""
    body_schema: Mapping[str, Any] | None

    @property
    def parameters(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


@cache
def _document() -> dict[str, Any]:
    return api_document(template())


@cache
def _operations() -> tuple[Operation, ...]:
    functions = {
        (route.method, route.path_template): route.function
        for route in routes_from_template(template())
    }
    operations = []
    for path, methods in _document()["paths"].items():
        for method, operation in methods.items():
            content = (operation.get("requestBody") or {}).get("content") or {}
            schema = (content.get("application/json") or {}).get("schema")
            operations.append(
                Operation(method.upper(), path, functions[(method.upper(), path)], schema)
            )
    return tuple(sorted(operations, key=str))


FAMILIES = sorted({operation.family for operation in _operations()})

# --- the seeded state ---


@dataclass(frozen=True)
class Seeded:
    """Three customers: an active subscription, a past-due one, and a partner-managed one."""

    accounts: tuple[str, ...]
    subscriptions: tuple[str, ...]
    """The subscription of each account, in the same order."""

    def subscription_of(self, account_id: str) -> str:
        return self.subscriptions[self.accounts.index(account_id)]


def seed(api: Api) -> Seeded:
    """The state every request of one test runs against, created once per test function."""
    _, active = api.subscribed("acct_active")
    _, past_due = api.past_due("acct_past_due")
    api.open_account("acct_partner", partner=PARTNER)
    opened = api.staff("partner", partner_id=PARTNER["id"]).post(
        "/admin/accounts/acct_partner/subscriptions",
        {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"},
    )
    assert opened.status == 201, opened.body
    return Seeded(
        accounts=("acct_active", "acct_past_due", "acct_partner"),
        subscriptions=(active, past_due, str(opened.json()["id"])),
    )


# --- what "nothing changed" means ---


@dataclass(frozen=True)
class Snapshot:
    """What a refused request must leave as it was: the seeded subscriptions as the API shows
    them, every item of every billing table (accounts, subscriptions, charge attempts, audit
    trail: what GET /account/billing, /payments and /events are read from), the emails and
    sales notices sent, and the charges asked of Stripe and PayPal."""

    subscriptions: tuple[Any, ...]
    tables: Mapping[str, Any]
    emails: int
    sales_notices: str
    payment_intents: int
    paypal_orders: int


def _provider_calls(stand_in: StandIn, method: str, prefix: str) -> int:
    seen: list[dict[str, Any]] = stand_in.get(f"{stand_in.control}/requests")
    return sum(1 for r in seen if r["method"] == method and r["path"].startswith(prefix))


def _table_items() -> dict[str, Any]:
    """Every item of every billing table, in DynamoDB's JSON; not the idempotency records, which
    keep refusals. Read from moto's memory (in-process here): every example takes a snapshot,
    and a scan through the API costs more than the example's request."""
    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]
    items = {}
    for setting in TABLE_SETTINGS.values():
        if setting == "IDEMPOTENCY_TABLE":
            continue
        found = tables.get_table(os.environ[setting]).all_items()
        items[setting] = sorted(json.dumps(item.to_json(), sort_keys=True) for item in found)
    return items


def snapshot(api: Api, seeded: Seeded, localstripe: StandIn, paypal: StandIn) -> Snapshot:
    """The state of everything, once the outbox has sent what it held (its messages marked)."""
    outbox = api.outbox
    emails = len(outbox.emails)
    return Snapshot(
        subscriptions=tuple(
            _ok(api.customer(account).get(f"/subscriptions/{seeded.subscription_of(account)}"))
            for account in seeded.accounts
        ),
        tables=_table_items(),
        emails=emails,
        sales_notices=outbox.sqs.get_queue_attributes(
            QueueUrl=outbox.sales_queue_url, AttributeNames=["ApproximateNumberOfMessages"]
        )["Attributes"]["ApproximateNumberOfMessages"],
        payment_intents=_provider_calls(localstripe, "POST", "/v1/payment_intents"),
        paypal_orders=_provider_calls(paypal, "POST", "/v2/checkout/orders"),
    )


def _ok(response: GatewayResponse) -> Any:
    assert response.status == 200, response.body
    return response.json()


# --- hostile values ---

INJECTIONS = (
    "' OR 1=1 --",
    '" OR ""="',
    "1; DROP TABLE subscriptions; --",
    "{{7*7}}",
    "${7*7}",
    "#{7*7}",
    "<%= 7*7 %>",
    "${jndi:ldap://127.0.0.1:1389/a}",
    "../../etc/passwd",
    "..\\..\\windows\\win.ini",
    "<script>alert(1)</script>",
    "$where: '1 == 1'",
    '{"$gt": ""}',
    "%s%s%s%n",
    "\r\nX-Injected: 1",
)
ODD_TEXT = (
    "",
    " ",
    "\t",
    "\x00",
    "a\x00b",
    "\x1b[31mred",
    "\x7f\x80\x9f",
    "💳🔥👩‍👩‍👧",
    "\u202eevil\u202c",
    "مرحبا بالعالم",
    "\ufeffBOM",
    "\ud800",
    "a\udfffb",
    "\U0010ffff",
    "\uff21\uff42\uff43",  # fullwidth "Abc"
    "null",
    "undefined",
    "NaN",
    "-1",
    "0x10",
    "1e309",
)


def _repeated(text: str, times: int) -> str:
    return text * times


huge_text = st.builds(
    _repeated,
    st.sampled_from(["x", "é", "💳", "\u202e", "\x00"]),
    st.sampled_from([10_001, 100_000]),
)
"""Strings of 10 to 400 kB, built so that a failing example prints as the call, not the text."""

hostile_text: st.SearchStrategy[str] = st.one_of(
    st.sampled_from(INJECTIONS),
    st.sampled_from(ODD_TEXT),
    huge_text,
    st.text(max_size=40),
)
hostile_numbers: st.SearchStrategy[Any] = st.one_of(
    st.sampled_from([0, -1, 2, 13, 2**31, 2**63, -(2**63) - 1, 10**30, 1.0, 12.5, -0.0]),
    st.integers(),
    st.floats(),
    st.booleans(),
)
hostile_values: st.SearchStrategy[Any] = st.one_of(
    hostile_text,
    hostile_numbers,
    st.none(),
    st.lists(st.integers() | st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=8), st.integers() | st.none(), max_size=3),
)
"""A value of the wrong type, range or content for any field."""


def _json_text(value: Any, ascii_only: bool) -> str:
    """JSON text of `value`; lone surrogates always as ``\\ud800`` escapes, since UTF-8 (what
    API Gateway hands over) cannot carry them raw."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True)
    return text


def _nested(depth: int, kind: str) -> str:
    if kind == "array":
        return "[" * depth + "]" * depth
    return '{"a":' * depth + "null" + "}" * depth


NOT_JSON = (
    "{",
    "}",
    "[1, 2",
    "{'plan_id': 'basic'}",
    '{"plan_id": "basic",}',
    '{"plan_id": "basic"} trailing',
    "plan_id=basic&cycle_months=1",
    "<?xml version='1.0'?><plan>basic</plan>",
    "NaN",
    "Infinity",
    "-Infinity",
    "nul",
    "tru",
    '"unterminated',
    "\x00",
    "\ufeff{}",
    '{"cycle_months": 1e400}',
    '{"cycle_months": NaN}',
    '{"cycle_months": 123456789012345678901234567890}',
    '{"a": "\\ud800"}',
    '{"a": "\\x00"}',
    '{"a": 1, "a": 2}',
)
"""Bodies that are not JSON, or JSON only to a lenient parser."""


def schema_values(schema: Mapping[str, Any], name: str = "") -> st.SearchStrategy[Any]:
    """Values shaped like `schema` (types, enums, required and optional properties, patterns,
    lengths), mixed with the schema's examples and a few realistic values by field name."""
    if "$ref" in schema:
        return schema_values(_resolve(schema["$ref"]), name)
    if "const" in schema or "enum" in schema:
        return st.sampled_from(schema.get("enum", [schema.get("const")]))
    options = schema.get("anyOf") or schema.get("oneOf")
    if options:
        return st.one_of([schema_values(option, name) for option in options])
    build = _BY_TYPE.get(schema.get("type", ""))
    return hostile_values if build is None else build(schema, name)


REALISTIC: Mapping[str, Sequence[Any]] = {
    "plan_id": ["basic", "standard", "premium"],
    "coupon": ["WELCOME20", "welcome20"],
    "setup_intent_id": ["seti_unknown_123", "seti_1Mm2cBLkdIwHu7ix", "pm_card_visa"],
    "setup_token_id": ["tok_unknown_123", "5C991763VB2781612"],
    "country": ["FR", "DE", "US", "GB", "fr", "XX"],
    "email": ["billing@example.com", "camille.martin@atelier-lumiere.fr"],
    "postal_code": ["75002", "10115", "95014"],
    "domain_zone": ["com", "fr", "de"],
}


def _string_values(schema: Mapping[str, Any], name: str) -> st.SearchStrategy[str]:
    low, high = schema.get("minLength", 0), schema.get("maxLength", 64)
    if "pattern" in schema:
        generated = st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) <= high
        )
    elif "email" in name:
        generated = st.emails().filter(lambda text: len(text) <= high)
    else:
        generated = st.text(min_size=low, max_size=min(high, 40))
    realistic = REALISTIC.get(name)
    return generated if realistic is None else st.sampled_from(realistic) | generated


def _object_values(schema: Mapping[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: Mapping[str, Any] = schema.get("properties", {})
    examples = [example for example in schema.get("examples", []) if isinstance(example, dict)]

    def value(name: str) -> st.SearchStrategy[Any]:
        from_examples = [st.just(example[name]) for example in examples if name in example]
        return st.one_of([*from_examples, schema_values(properties[name], name)])

    required = set(schema.get("required", []))
    mixed = st.fixed_dictionaries(
        {name: value(name) for name in properties if name in required},
        optional={name: value(name) for name in properties if name not in required},
    )
    # A whole example is valid, so that some requests get past validation to the operation.
    return st.one_of([st.sampled_from(examples), mixed]) if examples else mixed


def _resolve(reference: str) -> Mapping[str, Any]:
    node: Any = _document()
    for part in reference.removeprefix("#/").split("/"):
        node = node[part]
    resolved: Mapping[str, Any] = node
    return resolved


_BY_TYPE: Mapping[str, Callable[[Mapping[str, Any], str], st.SearchStrategy[Any]]] = {
    "object": lambda schema, _name: _object_values(schema),
    "string": _string_values,
    "array": lambda schema, name: st.lists(
        schema_values(schema.get("items", {}), name), max_size=3
    ),
    "integer": lambda schema, _name: st.integers(schema.get("minimum"), schema.get("maximum")),
    "number": lambda _schema, _name: st.floats(allow_nan=False, allow_infinity=False),
    "boolean": lambda _schema, _name: st.booleans(),
    "null": lambda _schema, _name: st.none(),
}
"""Values of each JSON Schema type; an unknown type gets hostile values of any type."""


@st.composite
def _broken_object(draw: st.DrawFn, schema: Mapping[str, Any]) -> Any:
    """A schema-shaped body, as is or with one thing wrong: a required field missing, a field
    too many, or one field's value hostile."""
    drawn = draw(schema_values(schema))
    if not isinstance(drawn, dict):
        return drawn
    body = dict(drawn)  # never change the schema's own example
    change = draw(st.sampled_from(["as_is", "missing", "extra", "hostile"]))
    if change == "missing" and body:
        del body[draw(st.sampled_from(sorted(body)))]
    elif change == "extra":
        body[draw(st.sampled_from(["admin", "status", "price", "__proto__", "id", "x" * 300]))] = (
            draw(hostile_values)
        )
    elif change == "hostile":
        fields = sorted(set(body) | set(_resolved(schema).get("properties", {})))
        if fields:
            body[draw(st.sampled_from(fields))] = draw(hostile_values)
    return body


def _resolved(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    return _resolve(schema["$ref"]) if "$ref" in schema else schema


def bodies(operation: Operation) -> st.SearchStrategy[str | None]:
    """The raw body text of a request, or None for no body."""
    wrong_json = st.one_of(
        st.lists(hostile_values, max_size=3),
        hostile_numbers,
        st.none(),
        hostile_text,
        st.dictionaries(hostile_text, hostile_values, max_size=4),
    )
    nested = st.builds(
        _nested, st.sampled_from([64, 1_000, 100_000]), st.sampled_from(["array", "object"])
    )
    junk = st.one_of(
        st.sampled_from(NOT_JSON),
        st.text(max_size=100),
        nested,
        st.builds(_json_text, wrong_json, st.booleans()),
    )
    if operation.body_schema is None:
        return st.none() | junk
    shaped = st.builds(_json_text, _broken_object(operation.body_schema), st.booleans())
    return st.one_of(shaped, shaped, junk, st.none())


# --- the request ---


@dataclass(frozen=True)
class HostileRequest:
    operation: Operation
    caller: str
    """An account id of the seeded state, or a staff role."""
    path: str
    path_values: Mapping[str, str]
    body: str | None
    headers: Mapping[str, str]
    key: str
    """The Idempotency-Key sent: ``none``, ``fresh``, ``reused`` (one key for every request of
    the test) or ``invalid``."""


def _path_segment(value: str, encode: bool) -> str:
    if not encode:
        return value
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


def _id_like() -> st.SearchStrategy[str]:
    return st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,30}", fullmatch=True)


def _path_values(
    seeded: Seeded, parameter: str, caller: str
) -> st.SearchStrategy[tuple[str, bool]]:
    """A path parameter's value and whether it is sent percent-encoded: half the time a seeded
    id of the parameter's kind (the caller's own more often than another account's), otherwise
    an id-like one, another kind's id, or hostile (long, slashes, dots, unicode, empty-looking,
    already encoded)."""
    of_kind = {
        "subscription_id": seeded.subscriptions,
        "payment_id": tuple(f"{sub}.c00000.a001" for sub in seeded.subscriptions),
        "number": ("1", "00000002", "42"),
    }.get(parameter, seeded.accounts)
    own = seeded.accounts.index(caller) if caller in seeded.accounts else None
    known = st.sampled_from([*of_kind, *([] if own is None else [of_kind[own]] * 2)])
    suffixed = st.builds(
        lambda known_id, tail: known_id + tail,
        known,
        st.sampled_from([" ", "%00", "/..", "%2F..", ".", "\x00", "'--", "?x=1", "#", "💳"]),
    )
    already_encoded = st.sampled_from(
        [
            "..%2F..%2Fetc%2Fpasswd",
            "%2e%2e",
            "%252e%252e%252f",
            "%2F",
            "%20",
            "%00",
            "%ZZ",
            "..",
            ".",
        ]
    )
    to_encode = st.one_of(
        _id_like(),
        hostile_text,
        suffixed,
        st.sampled_from([*seeded.subscriptions, *seeded.accounts]),
        st.sampled_from(["a" * 101, "s" * 5_000]),
    )
    return st.one_of(
        st.tuples(known, st.just(False)),
        st.tuples(known, st.just(False)),
        st.tuples(to_encode, st.just(True)),
        st.tuples(already_encoded | suffixed, st.just(False)),
    )


KEYS: Mapping[str, st.SearchStrategy[str]] = {
    "fresh": st.builds(lambda: str(uuid.uuid4())),
    "reused": st.just("fuzz-key-reused"),
    "invalid": st.sampled_from(
        ["k" * 300, "", " ", "clé-💳", "key with spaces", "tab\tkey", "nul\x00key", "é"]
    ),
}


@st.composite
def hostile_requests(
    draw: st.DrawFn, operations: Sequence[Operation], seeded: Seeded
) -> HostileRequest:
    operation = draw(st.sampled_from(operations))
    role = ROLE[operation.method, operation.path]
    caller = draw(st.sampled_from(seeded.accounts)) if role == "customer" else role
    values: dict[str, str] = {}
    path = operation.path
    for parameter in operation.parameters:
        value, encode = draw(_path_values(seeded, parameter, caller))
        values[parameter] = value
        path = path.replace(f"{{{parameter}}}", _path_segment(value, encode))
    headers: dict[str, str] = {}
    key = draw(st.sampled_from(["none", *KEYS]))
    if key != "none":
        name = draw(st.sampled_from(["Idempotency-Key", "idempotency-key", "IDEMPOTENCY-KEY"]))
        headers[name] = draw(KEYS[key])
    content_type = draw(
        st.sampled_from(
            [
                None,
                "application/json",
                "text/plain",
                "application/x-www-form-urlencoded",
                "application/json; charset=utf-16",
                "",
            ]
        )
    )
    if content_type is not None:
        headers["Content-Type"] = content_type
    odd = draw(
        st.dictionaries(
            st.sampled_from(
                ["X-Forwarded-For", "Accept", "X-Amzn-Trace-Id", "User-Agent", "Cookie"]
            ),
            hostile_text.filter(lambda text: len(text) < 20_000),
            max_size=2,
        )
    )
    return HostileRequest(
        operation=operation,
        caller=caller,
        path=path,
        path_values=values,
        body=draw(bodies(operation)),
        headers={**odd, **headers},
        key=key,
    )


def _client(api: Api, caller: str) -> Client:
    if caller in ("admin", "sales"):
        return api.staff(caller)
    if caller == "partner":
        return api.staff("partner", partner_id=PARTNER["id"])
    return api.customer(caller)


# --- what every answer must look like ---

_SNAKE_CASE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")


def assert_spec_answer(response: GatewayResponse) -> None:
    """Never a 5xx for bad input; JSON; an error in exactly the API's error shape, its status the
    one its code has."""
    assert response.status < 500, response.body[:2000]
    headers = {name.lower(): value for name, value in response.headers.items()}
    assert headers.get("content-type", "").startswith("application/json"), response.headers
    body = response.json()
    if response.status < 400:
        return
    assert isinstance(body, dict)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    code = error["code"]
    assert isinstance(code, str)
    assert _SNAKE_CASE.fullmatch(code), code
    assert code in set(ErrorCode), code
    assert STATUS[ErrorCode(code)] == response.status, (code, response.status)
    assert isinstance(error["message"], str)
    assert error["message"].strip(), error
    if code == ErrorCode.INVALID_FIELDS:
        _assert_one_entry_per_field(error["details"])


def _assert_one_entry_per_field(details: Any) -> None:
    assert isinstance(details, list), details
    assert details, "a 422 names at least one field"
    for entry in details:
        assert set(entry) == {"field", "code", "message"}, entry
        assert all(isinstance(entry[part], str) and entry[part] for part in entry), entry
    fields = [entry["field"] for entry in details]
    assert len(fields) == len(set(fields)), fields


def _is_refusal(response: GatewayResponse) -> bool:
    """A 4xx that moved no money: everything but a declined charge (402 payment_declined),
    which records its attempt."""
    if not 400 <= response.status < 500:
        return False
    return bool(response.json()["error"]["code"] != ErrorCode.PAYMENT_DECLINED)


def _differences(before: Snapshot, after: Snapshot) -> list[str]:
    return [
        name
        for name in Snapshot.__dataclass_fields__
        if getattr(before, name) != getattr(after, name)
    ]


# --- the tests ---


def test_every_operation_has_a_caller() -> None:
    assert set(ROLE) == {(operation.method, operation.path) for operation in _operations()}


def _run(api: Api, request: HostileRequest) -> GatewayResponse:
    return _client(api, request.caller).request(
        request.operation.method,
        request.path,
        raw=request.body,
        headers=dict(request.headers),
    )


def _others_subscription(request: HostileRequest, seeded: Seeded) -> bool:
    """Whether the request names, exactly, the subscription of another seeded customer."""
    if request.caller not in seeded.accounts:
        return False
    wanted = request.path_values.get("subscription_id")
    own = seeded.subscription_of(request.caller)
    return wanted in seeded.subscriptions and wanted != own and wanted in request.path


@pytest.mark.filterwarnings("ignore:Generating overly large repr")
@pytest.mark.parametrize("family", FAMILIES)
def test_hostile_requests_get_spec_errors_and_change_nothing(
    api: Api, localstripe: StandIn, paypal: StandIn, family: str
) -> None:
    seeded = seed(api)
    operations = [operation for operation in _operations() if operation.family == family]
    baseline = [snapshot(api, seeded, localstripe, paypal)]

    @settings(
        max_examples=EXAMPLES_PER_FAMILY,
        deadline=None,
        # Each example is a few real requests: shrinking a failure would take minutes, and the
        # failing request is printed as drawn anyway.
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(request=hostile_requests(operations, seeded))
    def answer_is_spec_shaped_and_refusals_change_nothing(request: HostileRequest) -> None:
        response = _run(api, request)
        event(f"{request.operation} -> {response.status}")

        assert_spec_answer(response)
        if request.key == "invalid" and request.operation.method in ("POST", "PUT"):
            assert response.status >= 400, "an unusable Idempotency-Key was ignored"
        if _others_subscription(request, seeded):
            assert response.status >= 400, "another account's subscription was acted on"
            if request.key in ("none", "fresh"):
                assert response.status == 404, "another account's subscription must be not found"
        after = snapshot(api, seeded, localstripe, paypal)
        if _is_refusal(response):
            changed = _differences(baseline[0], after)
            assert not changed, f"{response.status} {response.body[:300]} changed {changed}"
        baseline[0] = after

    answer_is_spec_shaped_and_refusals_change_nothing()


# --- the failures the fuzzing found, as plain examples ---

ORDER = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "text/csv"])
def test_a_json_body_sent_as_another_content_type_is_refused_in_the_spec_shape(
    api: Api, content_type: str
) -> None:
    customer = api.customer("acct_unknown")

    response = customer.post(
        "/subscriptions", raw=json.dumps(ORDER), headers={"Content-Type": content_type}
    )

    assert_spec_answer(response)


@pytest.mark.parametrize(
    ("path", "depth", "key"),
    [
        ("/subscriptions", 100_000, None),
        ("/subscriptions/sub_missing/cancel", 1_000, "nested-1000"),
        ("/subscriptions/sub_missing/cancel", 100_000, "nested-100000"),
    ],
)
def test_a_deeply_nested_body_is_refused_in_the_spec_shape(
    api: Api, path: str, depth: int, key: str | None
) -> None:
    customer = api.customer("acct_unknown")

    response = customer.post(path, raw=_nested(depth, "array"), key=key)

    assert_spec_answer(response)


# --- hand-made input the fuzzing did not find: refused before any operation -------------------

BODY_OPERATIONS = [operation for operation in _operations() if operation.body_schema is not None]


def _send(
    api: Api, operation: Operation, raw: str, content_type: str = "application/json"
) -> GatewayResponse:
    """`raw` sent to `operation` by a caller allowed to send it, with an Idempotency-Key."""
    role = ROLE[operation.method, operation.path]
    client = _client(api, "acct_plain" if role == "customer" else role)
    path = operation.path.format(
        subscription_id="sub_1", account_id="acct_1", payment_id="sub_1.c00000.a001"
    )
    headers = {"Content-Type": content_type}
    return client.request(operation.method, path, raw=raw, headers=headers, key=str(uuid.uuid4()))


def _invalid_field(response: GatewayResponse) -> tuple[str, str]:
    """The field and code of a 422's only detail."""
    [detail] = expect_error(response, 422, ErrorCode.INVALID_FIELDS)["details"]
    assert detail["message"]
    return detail["field"], detail["code"]


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("multipart/form-data", "--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1\r\n--x--"),
        ("multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=a\r\n"),
        ("application/x-www-form-urlencoded", "plan_id=basic&cycle_months=1&currency=EUR"),
    ],
)
def test_a_body_sent_as_a_form_is_refused_as_not_json(
    api: Api, reached: Reached, operation: Operation, content_type: str, raw: str
) -> None:
    with reached.nothing():
        response = _send(api, operation, raw, content_type)

    error = expect_error(response, 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE)
    assert error["details"] == {"accepted": ["application/json"]}


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
def test_an_integer_too_long_for_python_is_refused_as_a_body_error(
    api: Api, reached: Reached, operation: Operation
) -> None:
    with reached.nothing():
        response = _send(api, operation, '{"plan_id": "basic", "x": [1, ' + "9" * 5_000 + "]}")

    assert _invalid_field(response) == ("body", "number_too_long")


@pytest.mark.parametrize("operation", BODY_OPERATIONS, ids=str)
@pytest.mark.parametrize(
    "raw", ['{"plan_id": "basic", "plan_id": "premium"}', '{"partner": {"id": "a", "id": "a"}}']
)
def test_a_key_repeated_in_a_json_object_is_refused(
    api: Api, reached: Reached, operation: Operation, raw: str
) -> None:
    with reached.nothing():
        response = _send(api, operation, raw)

    assert _invalid_field(response) == ("body", "duplicate_key")


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("cycle_months", True, "int_type"),
        ("cycle_months", 1.0, "int_type"),
        ("cycle_months", "1", "int_type"),
        ("plan_id", 1, "string_type"),
        ("currency", 978, "enum"),
    ],
)
def test_a_plan_is_bought_only_with_values_of_the_right_json_type(
    api: Api, reached: Reached, field: str, value: Any, code: str
) -> None:
    customer = api.open_account("acct_strict")
    assert api.save_card(customer).status == 200
    partner = api.staff("partner", partner_id=PARTNER["id"])

    with reached.nothing():
        bought = customer.post("/subscriptions", ORDER | {field: value}, key="strict")
        opened = partner.post("/admin/accounts/acct_strict/subscriptions", ORDER | {field: value})

    for refused in (bought, opened):
        assert _invalid_field(refused) == (field, code)
    assert customer.post("/subscriptions", ORDER, key="strict-ok").status == 201


CARD = "4242 4242 4242 4242"
FORM = {
    "name": "Camille Martin",
    "email": "billing@example.com",
    "address_line1": "12 rue de la Paix",
    "city": "Paris",
    "postal_code": "75002",
    "country": "FR",
}


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("name", CARD, "card_number"),
        ("company", f"Atelier {CARD.replace(' ', '-')}", "card_number"),
        ("address_line2", CARD.replace(" ", ""), "card_number"),
        ("city", "Paris\u202e", "invalid_characters"),
        ("name", "\u2066Camille\u2069", "invalid_characters"),
    ],
)
def test_a_card_number_or_a_direction_override_in_the_billing_form_is_never_stored(
    api: Api, reached: Reached, field: str, value: str, code: str
) -> None:
    customer = api.open_account("acct_form")

    with reached.nothing():
        refused = customer.put("/account/billing-info", FORM | {field: value}, key="form")

    assert _invalid_field(refused) == (field, code)
    assert value not in refused.body
    assert customer.get("/account/billing").json()["billing_info"] is None
    assert customer.put("/account/billing-info", FORM, key="form-ok").status == 200


def test_a_card_number_in_a_partner_name_is_refused(api: Api, reached: Reached) -> None:
    body = {"email": "a@example.com", "channel": "partner", "partner": PARTNER | {"name": CARD}}

    with reached.nothing():
        refused = api.staff("admin").put("/admin/accounts/acct_resold", body, key="partner")

    assert _invalid_field(refused) == ("partner.name", "card_number")
