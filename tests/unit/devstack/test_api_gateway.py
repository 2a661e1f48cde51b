"""The local API Gateway: routes read from a SAM template (short-form intrinsics included),
REST proxy events as API Gateway builds them, the Cognito authorizer, and proxy responses."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from devstack.api_gateway import (
    GatewayResponse,
    LocalApiGateway,
    LocalLambdaContext,
    Route,
    import_handler,
    routes_from_template,
)
from devstack.template import (
    TemplateError,
    load_template,
    parse_template,
    resources_of_type,
)
from devstack.tokens import TokenIssuer, generate_secret

NOW = datetime(2026, 6, 15, 5, 12, 43, 847_000, tzinfo=UTC)

TEMPLATE = """
AWSTemplateFormatVersion: 2010-09-09
Transform: AWS::Serverless-2016-10-31
Parameters:
  Stage: {Type: String, Default: local}
Globals:
  Function:
    Runtime: python3.12
    Timeout: 29
    Environment: {Variables: {STAGE: !Ref Stage}}
Resources:
  UserPool:
    Type: AWS::Cognito::UserPool
  BillingApi:
    Type: AWS::Serverless::Api
    Properties:
      StageName: !Ref Stage
      Auth:
        DefaultAuthorizer: CognitoAuthorizer
        Authorizers:
          CognitoAuthorizer: {UserPoolArn: !GetAtt UserPool.Arn}
  RetryNowFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/retry_now/
      Handler: retry_now.handler.lambda_handler
      Events:
        RetryNow:
          Type: Api
          Properties: {RestApiId: !Ref BillingApi, Path: "/subscriptions/{id}/retry", Method: post}
        SalesCharge:
          Type: Api
          Properties:
            RestApiId: !Ref BillingApi
            Path: "/admin/subscriptions/{id}/charge"
            Method: post
  SubscriptionsFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/subscriptions/
      Handler: subscriptions.handler.lambda_handler
      Events:
        Plans:
          Type: Api
          Properties:
            RestApiId: !Ref BillingApi
            Path: /plans
            Method: get
            Auth: {Authorizer: NONE}
        Subscription:
          Type: Api
          Properties: {RestApiId: !Ref BillingApi, Path: "/subscriptions/{id}", Method: get}
        Current:
          Type: Api
          Properties: {RestApiId: !Ref BillingApi, Path: /subscriptions/current, Method: get}
        Renewals:
          Type: Schedule
          Properties: {Schedule: rate(1 hour)}
  AdminFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/admin/
      Handler: admin.handler.lambda_handler
      Events:
        RetryRequests:
          Type: Api
          Properties: {RestApiId: !Ref BillingApi, Path: /admin/retry-requests, Method: get}
        Files:
          Type: Api
          Properties: {RestApiId: !Ref BillingApi, Path: "/files/{path+}", Method: any}
  RenewalQueue:
    Type: AWS::SQS::Queue
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


def echo(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Answers with the event and the context it was called with."""
    seen = {
        "event": event,
        "function_name": context.function_name,
        "invoked_function_arn": context.invoked_function_arn,
        "aws_request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
    }
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(seen),
    }


class Calls:
    """Handlers by Handler string, each recording the events it was called with."""

    def __init__(self, answer: Callable[[dict[str, Any], Any], Any] = echo) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []
        self.loaded: list[str] = []

    def load(self, handler: str) -> Callable[[dict[str, Any], Any], Any]:
        self.loaded.append(handler)

        def recorded(event: dict[str, Any], context: Any) -> Any:
            self.events.append(event)
            return self.answer(event, context)

        return recorded


@pytest.fixture
def clock() -> Clock:
    return Clock(NOW)


@pytest.fixture
def tokens(clock: Clock) -> TokenIssuer:
    return TokenIssuer(generate_secret(), clock=clock)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def gateway(tokens: TokenIssuer, calls: Calls, clock: Clock) -> LocalApiGateway:
    return LocalApiGateway(
        routes_from_template(parse_template(TEMPLATE)),
        verifier=tokens.verify,
        load_handler=calls.load,
        clock=clock,
    )


def _bearer(tokens: TokenIssuer, account_id: str = "acc_1", **kwargs: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(account_id, **kwargs)}"}


def _event(response: GatewayResponse) -> dict[str, Any]:
    assert response.status == 200, response.body
    event: dict[str, Any] = response.json()["event"]
    return event


# The template loader


@pytest.mark.parametrize(
    ("yaml_value", "expected"),
    [
        ("!Ref Stage", {"Ref": "Stage"}),
        ("!Condition IsProd", {"Condition": "IsProd"}),
        ("!GetAtt UserPool.Arn", {"Fn::GetAtt": ["UserPool", "Arn"]}),
        ("!GetAtt Db.Endpoint.Address", {"Fn::GetAtt": ["Db", "Endpoint.Address"]}),
        ("!GetAtt [UserPool, Arn]", {"Fn::GetAtt": ["UserPool", "Arn"]}),
        ("!Sub 'billing-${Stage}'", {"Fn::Sub": "billing-${Stage}"}),
        (
            "!Sub ['${Name}-dlq', {Name: !Ref Queue}]",
            {"Fn::Sub": ["${Name}-dlq", {"Name": {"Ref": "Queue"}}]},
        ),
        (
            "!If [IsProd, !Ref AWS::NoValue, 7]",
            {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 7]},
        ),
        ("!Equals [!Ref Stage, prod]", {"Fn::Equals": [{"Ref": "Stage"}, "prod"]}),
        ("!Not [!Condition IsProd]", {"Fn::Not": [{"Condition": "IsProd"}]}),
        (
            "!And [!Condition A, !Condition B]",
            {"Fn::And": [{"Condition": "A"}, {"Condition": "B"}]},
        ),
        ("!Or [!Condition A, !Condition B]", {"Fn::Or": [{"Condition": "A"}, {"Condition": "B"}]}),
        ("!FindInMap [Zones, eu, tax]", {"Fn::FindInMap": ["Zones", "eu", "tax"]}),
        ("!Join ['', [a, !Ref B]]", {"Fn::Join": ["", ["a", {"Ref": "B"}]]}),
        ("!Select [0, !GetAZs '']", {"Fn::Select": [0, {"Fn::GetAZs": ""}]}),
        ("!Split [',', 'a,b']", {"Fn::Split": [",", "a,b"]}),
        ("!Base64 hello", {"Fn::Base64": "hello"}),
        ("!Cidr [10.0.0.0/16, 4, 8]", {"Fn::Cidr": ["10.0.0.0/16", 4, 8]}),
        ("!ImportValue shared-vpc", {"Fn::ImportValue": "shared-vpc"}),
        ("!GetAZs us-east-1", {"Fn::GetAZs": "us-east-1"}),
        (
            "!Transform {Name: AWS::Include, Parameters: {Location: s3://b/k}}",
            {"Fn::Transform": {"Name": "AWS::Include", "Parameters": {"Location": "s3://b/k"}}},
        ),
        ("!Length [a, b]", {"Fn::Length": ["a", "b"]}),
        ("!ToJsonString {a: !Ref B}", {"Fn::ToJsonString": {"a": {"Ref": "B"}}}),
    ],
)
def test_short_form_intrinsic_becomes_its_long_form(yaml_value: str, expected: Any) -> None:
    template = parse_template(
        f"Resources:\n  Thing:\n    Type: X\n    Properties:\n      Value: {yaml_value}\n"
    )

    assert template["Resources"]["Thing"]["Properties"]["Value"] == expected


def test_unknown_tag_is_refused() -> None:
    with pytest.raises(TemplateError, match="Reff"):
        parse_template("Resources:\n  Thing: {Type: X, Properties: {Value: !Reff Stage}}\n")


def test_unquoted_date_stays_a_string() -> None:
    assert parse_template(TEMPLATE)["AWSTemplateFormatVersion"] == "2010-09-09"


@pytest.mark.parametrize("text", ["[]", "Outputs: {}", "Resources: [a]", "a: [b"])
def test_text_that_is_no_template_is_refused(text: str) -> None:
    with pytest.raises(TemplateError):
        parse_template(text)


def test_template_loaded_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(TEMPLATE, encoding="utf-8")

    assert load_template(path) == parse_template(TEMPLATE)


def test_resources_of_type() -> None:
    template = parse_template(TEMPLATE)

    functions = resources_of_type(template, "AWS::Serverless::Function")

    assert sorted(functions) == ["AdminFunction", "RetryNowFunction", "SubscriptionsFunction"]
    assert list(resources_of_type(template, "AWS::SQS::Queue")) == ["RenewalQueue"]
    assert resources_of_type(template, "AWS::DynamoDB::Table") == {}


# Routes from the template


def test_routes_from_template() -> None:
    routes = routes_from_template(parse_template(TEMPLATE))

    def route(method: str, path: str, function: str, handler: str, authorized: bool) -> Route:
        return Route(method, path, function, handler, authorized)

    retry_now, subscriptions, admin = (
        "retry_now.handler.lambda_handler",
        "subscriptions.handler.lambda_handler",
        "admin.handler.lambda_handler",
    )
    assert sorted(routes, key=lambda r: (r.path_template, r.method)) == [
        route("GET", "/admin/retry-requests", "AdminFunction", admin, True),
        route("POST", "/admin/subscriptions/{id}/charge", "RetryNowFunction", retry_now, True),
        route("ANY", "/files/{path+}", "AdminFunction", admin, True),
        route("GET", "/plans", "SubscriptionsFunction", subscriptions, False),
        route("GET", "/subscriptions/current", "SubscriptionsFunction", subscriptions, True),
        route("GET", "/subscriptions/{id}", "SubscriptionsFunction", subscriptions, True),
        route("POST", "/subscriptions/{id}/retry", "RetryNowFunction", retry_now, True),
    ]


def _function_template(events: str, *, api: str = "", globals_: str = "") -> dict[str, Any]:
    return parse_template(
        f"""
Globals:
  Function: {{Handler: app.handler}}
{globals_}
Resources:
  UserPool: {{Type: AWS::Cognito::UserPool}}
{api}
  AppFunction:
    Type: AWS::Serverless::Function
    Properties:
      Events:
{events}
"""
    )


def test_handler_may_come_from_globals() -> None:
    template = _function_template(
        "        Ping: {Type: Api, Properties: {Path: /ping, Method: get}}"
    )

    assert routes_from_template(template) == [
        Route("GET", "/ping", "AppFunction", "app.handler", False)
    ]


def test_implicit_api_takes_its_authorizer_from_globals() -> None:
    template = _function_template(
        """        Ping: {Type: Api, Properties: {Path: /ping, Method: get}}
        Open: {Type: Api, Properties: {Path: /open, Method: get, Auth: {Authorizer: NONE}}}""",
        globals_="""  Api:
    Auth:
      DefaultAuthorizer: Users
      Authorizers: {Users: {UserPoolArn: !GetAtt UserPool.Arn}}""",
    )

    authorized = {route.path_template: route.authorized for route in routes_from_template(template)}

    assert authorized == {"/ping": True, "/open": False}


def test_event_may_name_the_authorizer_of_an_api_without_default() -> None:
    template = _function_template(
        """        Ping:
          Type: Api
          Properties: {RestApiId: !Ref Api, Path: /ping, Method: get, Auth: {Authorizer: Users}}
        Open: {Type: Api, Properties: {RestApiId: !Ref Api, Path: /open, Method: get}}""",
        api="""  Api:
    Type: AWS::Serverless::Api
    Properties:
      StageName: local
      Auth: {Authorizers: {Users: {UserPoolArn: !GetAtt UserPool.Arn}}}""",
    )

    authorized = {route.path_template: route.authorized for route in routes_from_template(template)}

    assert authorized == {"/ping": True, "/open": False}


def test_authorizer_other_than_cognito_is_refused() -> None:
    template = _function_template(
        "        Ping: {Type: Api, Properties: {Path: /ping, Method: get, "
        "Auth: {Authorizer: AWS_IAM}}}"
    )

    with pytest.raises(TemplateError, match="AWS_IAM is not a Cognito"):
        routes_from_template(template)


def test_rest_api_id_must_name_a_serverless_api() -> None:
    template = _function_template(
        "        Ping: {Type: Api, Properties: "
        "{RestApiId: !Ref UserPool, Path: /ping, Method: get}}"
    )

    with pytest.raises(TemplateError, match="UserPool is not an AWS::Serverless::Api"):
        routes_from_template(template)


def test_duplicate_route_is_refused() -> None:
    template = _function_template(
        """        First: {Type: Api, Properties: {Path: "/subscriptions/{id}", Method: get}}
        Again: {Type: Api, Properties: {Path: "/subscriptions/{id}", Method: GET}}"""
    )

    with pytest.raises(TemplateError, match=re.escape("two routes for GET /subscriptions/{id}")):
        routes_from_template(template)


def test_one_resource_with_two_parameter_names_is_refused() -> None:
    template = _function_template(
        """        Read: {Type: Api, Properties: {Path: "/subscriptions/{id}", Method: get}}
        Write: {Type: Api, Properties: {Path: "/subscriptions/{key}", Method: put}}"""
    )

    with pytest.raises(TemplateError, match="parameters differently"):
        routes_from_template(template)


def test_function_with_a_route_and_no_handler_is_refused() -> None:
    template = parse_template(
        "Resources:\n  F: {Type: AWS::Serverless::Function, Properties: {CodeUri: f/, Events: "
        "{E: {Type: Api, Properties: {Path: /x, Method: get}}}}}\n"
    )

    with pytest.raises(TemplateError, match="F has no Handler"):
        routes_from_template(template)


# Routing


def test_literal_segment_beats_parameter(gateway: LocalApiGateway, tokens: TokenIssuer) -> None:
    current = _event(gateway.invoke("GET", "/subscriptions/current", headers=_bearer(tokens)))
    other = _event(gateway.invoke("GET", "/subscriptions/sub_1", headers=_bearer(tokens)))

    assert (current["resource"], current["pathParameters"]) == ("/subscriptions/current", None)
    assert (other["resource"], other["pathParameters"]) == ("/subscriptions/{id}", {"id": "sub_1"})


def test_resource_is_chosen_before_the_method(
    gateway: LocalApiGateway, tokens: TokenIssuer, calls: Calls
) -> None:
    # /subscriptions/current has no PUT; API Gateway does not fall back to /subscriptions/{id}.
    response = gateway.invoke("PUT", "/subscriptions/current", headers=_bearer(tokens))

    assert response.status == 404
    assert calls.events == []


def test_url_encoded_path_parameters_are_decoded(
    gateway: LocalApiGateway, tokens: TokenIssuer
) -> None:
    event = _event(
        gateway.invoke("POST", "/subscriptions/sub%201%2Fx%C3%A9/retry", headers=_bearer(tokens))
    )

    assert event["pathParameters"] == {"id": "sub 1/xé"}
    assert event["path"] == "/subscriptions/sub%201%2Fx%C3%A9/retry"
    assert event["resource"] == "/subscriptions/{id}/retry"


def test_greedy_path_on_any_method(gateway: LocalApiGateway, tokens: TokenIssuer) -> None:
    event = _event(gateway.invoke("delete", "/files/2026/06/report.pdf", headers=_bearer(tokens)))

    assert event["httpMethod"] == "DELETE"
    assert event["requestContext"]["httpMethod"] == "DELETE"
    assert event["resource"] == "/files/{path+}"
    assert event["pathParameters"] == {"path": "2026/06/report.pdf"}
    assert gateway.invoke("GET", "/files", headers=_bearer(tokens)).status == 404


def test_routes_to_the_function_of_the_route(
    gateway: LocalApiGateway, tokens: TokenIssuer, calls: Calls
) -> None:
    response = gateway.invoke("POST", "/admin/subscriptions/sub_1/charge", headers=_bearer(tokens))

    assert response.json()["function_name"] == "RetryNowFunction"
    assert calls.loaded == ["retry_now.handler.lambda_handler"]


def test_handler_is_loaded_once(
    gateway: LocalApiGateway, tokens: TokenIssuer, calls: Calls
) -> None:
    for _ in range(3):
        gateway.invoke("POST", "/subscriptions/sub_1/retry", headers=_bearer(tokens))
    gateway.invoke("POST", "/admin/subscriptions/sub_1/charge", headers=_bearer(tokens))

    assert calls.loaded == ["retry_now.handler.lambda_handler"]
    assert len(calls.events) == 4


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nowhere"),
        ("GET", "/subscriptions/sub_1/retry"),
        ("POST", "/plans"),
        ("GET", "/subscriptions/sub_1/retry/again"),
        ("GET", "/"),
    ],
)
def test_unknown_path_or_method_is_not_found(
    gateway: LocalApiGateway, tokens: TokenIssuer, calls: Calls, method: str, path: str
) -> None:
    response = gateway.invoke(method, path, headers=_bearer(tokens))

    assert response.status == 404
    assert response.headers == {"Content-Type": "application/json"}
    assert response.json() == {
        "error": {"code": "not_found", "message": f"No route for {method} {path}.", "details": None}
    }
    assert calls.events == []


# The proxy event


def test_event_is_shaped_as_api_gateway_sends_it(gateway: LocalApiGateway, clock: Clock) -> None:
    event = _event(gateway.invoke("GET", "/plans", headers={"User-Agent": "curl/8.10.1"}))

    context = event.pop("requestContext")
    assert event == {
        "resource": "/plans",
        "path": "/plans",
        "httpMethod": "GET",
        "headers": {"User-Agent": "curl/8.10.1"},
        "multiValueHeaders": {"User-Agent": ["curl/8.10.1"]},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "body": None,
        "isBase64Encoded": False,
    }
    assert uuid.UUID(context.pop("requestId")).version == 4
    assert context.pop("resourceId")
    assert context.pop("extendedRequestId")
    assert context == {
        "resourcePath": "/plans",
        "httpMethod": "GET",
        "requestTime": "15/Jun/2026:05:12:43 +0000",
        "requestTimeEpoch": 1781500363847,
        "path": "/local/plans",
        "accountId": "123456789012",
        "protocol": "HTTP/1.1",
        "stage": "local",
        "domainPrefix": "local",
        "domainName": "local.execute-api.localhost",
        "deploymentId": "local",
        "apiId": "local",
        "identity": {
            "cognitoIdentityPoolId": None,
            "accountId": None,
            "cognitoIdentityId": None,
            "caller": None,
            "sourceIp": "127.0.0.1",
            "principalOrgId": None,
            "accessKey": None,
            "cognitoAuthenticationType": None,
            "cognitoAuthenticationProvider": None,
            "userArn": None,
            "userAgent": "curl/8.10.1",
            "user": None,
        },
    }


def test_stage_prefixes_the_context_path(tokens: TokenIssuer, calls: Calls) -> None:
    gateway = LocalApiGateway(
        routes_from_template(parse_template(TEMPLATE)),
        verifier=tokens.verify,
        load_handler=calls.load,
        stage="prod",
    )

    event = _event(gateway.invoke("GET", "/plans"))

    assert (event["path"], event["requestContext"]["path"]) == ("/plans", "/prod/plans")
    assert event["requestContext"]["stage"] == "prod"


def test_each_request_has_its_own_ids(gateway: LocalApiGateway) -> None:
    first, second = (gateway.invoke("GET", "/plans").json() for _ in range(2))

    assert (
        first["event"]["requestContext"]["requestId"]
        != (second["event"]["requestContext"]["requestId"])
    )
    assert first["aws_request_id"] != second["aws_request_id"]


def test_query_string_single_and_repeated(gateway: LocalApiGateway) -> None:
    event = _event(gateway.invoke("GET", "/plans", query={"currency": "EUR", "cycle": ["1", "12"]}))

    # The single-value view keeps the last value, as API Gateway does.
    assert event["queryStringParameters"] == {"currency": "EUR", "cycle": "12"}
    assert event["multiValueQueryStringParameters"] == {"currency": ["EUR"], "cycle": ["1", "12"]}


def test_query_string_as_pairs(gateway: LocalApiGateway) -> None:
    event = _event(
        gateway.invoke("GET", "/plans", query=[("cycle", "3"), ("q", "a b&c"), ("cycle", "1")])
    )

    assert event["queryStringParameters"] == {"cycle": "1", "q": "a b&c"}
    assert event["multiValueQueryStringParameters"] == {"cycle": ["3", "1"], "q": ["a b&c"]}


def test_headers_as_sent_single_and_repeated(gateway: LocalApiGateway) -> None:
    event = _event(
        gateway.invoke(
            "GET",
            "/plans",
            headers=[("Accept", "text/html"), ("X-Trace", "a"), ("Accept", "application/json")],
        )
    )

    assert event["headers"] == {"Accept": "application/json", "X-Trace": "a"}
    assert event["multiValueHeaders"] == {
        "Accept": ["text/html", "application/json"],
        "X-Trace": ["a"],
    }


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('{"plan_id": "pro"}', '{"plan_id": "pro"}'),
        ('{"name": "Zoé"}'.encode(), '{"name": "Zoé"}'),
        ("", None),
        (b"", None),
        (None, None),
    ],
)
def test_body_passes_through(
    gateway: LocalApiGateway, tokens: TokenIssuer, body: str | bytes | None, expected: str | None
) -> None:
    event = _event(
        gateway.invoke("POST", "/subscriptions/sub_1/retry", headers=_bearer(tokens), body=body)
    )

    assert event["body"] == expected
    assert event["isBase64Encoded"] is False


def test_lambda_context(gateway: LocalApiGateway, tokens: TokenIssuer) -> None:
    seen = gateway.invoke("POST", "/subscriptions/sub_1/retry", headers=_bearer(tokens)).json()

    assert seen["function_name"] == "RetryNowFunction"
    assert seen["invoked_function_arn"] == (
        "arn:aws:lambda:us-east-1:123456789012:function:RetryNowFunction"
    )
    assert uuid.UUID(seen["aws_request_id"])
    assert 28_000 < seen["remaining_ms"] <= 29_000


def test_lambda_context_counts_down() -> None:
    context = LocalLambdaContext.for_function("F")
    expired = dataclasses.replace(context, deadline=0.0)

    assert 0 < context.get_remaining_time_in_millis() <= 29_000
    assert expired.get_remaining_time_in_millis() == 0
    assert context.log_group_name == "/aws/lambda/F"
    assert (context.function_version, context.memory_limit_in_mb) == ("$LATEST", 128)


# The Cognito authorizer


def test_claims_are_where_the_cognito_authorizer_puts_them(
    gateway: LocalApiGateway, tokens: TokenIssuer
) -> None:
    headers = _bearer(tokens, "acc_7", groups=["partner", "sales"], partner_id="partner_3")

    event = _event(gateway.invoke("GET", "/subscriptions/sub_1", headers=headers))

    claims = event["requestContext"]["authorizer"]["claims"]
    assert event["requestContext"]["authorizer"] == {"claims": claims}
    assert claims["custom:account_id"] == "acc_7"
    assert claims["custom:partner_id"] == "partner_3"
    # A REST API's Cognito authorizer hands over every claim as a string: a list comma-joined,
    # exp/iat as Java dates, other numbers as their digits.
    assert claims["cognito:groups"] == "partner,sales"
    assert claims["exp"] == "Mon Jun 15 06:12:43 UTC 2026"
    assert claims["iat"] == "Mon Jun 15 05:12:43 UTC 2026"
    assert claims["auth_time"] == "1781500363"
    assert claims["token_use"] == "id"
    assert all(isinstance(value, str) for value in claims.values())
    assert event["headers"]["Authorization"] == headers["Authorization"]


@pytest.mark.parametrize(
    ("groups", "claim"),
    [(["admin"], "admin"), (["admin", "sales", "partner"], "admin,sales,partner")],
)
def test_groups_claim_format(
    gateway: LocalApiGateway, tokens: TokenIssuer, groups: list[str], claim: str
) -> None:
    event = _event(
        gateway.invoke("GET", "/admin/retry-requests", headers=_bearer(tokens, groups=groups))
    )

    assert event["requestContext"]["authorizer"]["claims"]["cognito:groups"] == claim


def test_user_in_no_group_has_no_groups_claim(
    gateway: LocalApiGateway, tokens: TokenIssuer
) -> None:
    event = _event(gateway.invoke("GET", "/subscriptions/sub_1", headers=_bearer(tokens)))

    claims = event["requestContext"]["authorizer"]["claims"]
    assert "cognito:groups" not in claims
    assert "custom:partner_id" not in claims


def test_claims_of_other_types_are_rendered_as_strings(calls: Calls) -> None:
    claims = {"email_verified": True, "identities": [{"provider": "x"}], "profile": {"a": 1}}
    gateway = LocalApiGateway(
        [Route("GET", "/me", "F", "f.handler", authorized=True)],
        verifier=lambda token: claims,
        load_handler=calls.load,
    )

    event = _event(gateway.invoke("GET", "/me", headers={"Authorization": "anything"}))

    assert event["requestContext"]["authorizer"]["claims"] == {
        "email_verified": "true",
        "identities": '{"provider":"x"}',
        "profile": '{"a":1}',
    }


@pytest.mark.parametrize("scheme", ["", "Bearer ", "bearer "])
def test_bare_or_bearer_token_is_accepted(
    gateway: LocalApiGateway, tokens: TokenIssuer, scheme: str
) -> None:
    token = tokens.issue("acc_1")

    event = _event(
        gateway.invoke("GET", "/subscriptions/sub_1", headers={"authorization": f"{scheme}{token}"})
    )

    assert event["requestContext"]["authorizer"]["claims"]["custom:account_id"] == "acc_1"


def test_unauthenticated_route_needs_no_token(gateway: LocalApiGateway) -> None:
    event = _event(gateway.invoke("GET", "/plans"))

    assert "authorizer" not in event["requestContext"]


def test_unauthenticated_route_ignores_a_bad_token(gateway: LocalApiGateway) -> None:
    event = _event(gateway.invoke("GET", "/plans", headers={"Authorization": "Bearer junk"}))

    assert "authorizer" not in event["requestContext"]


def _foreign(tokens: TokenIssuer, **changes: Any) -> str:
    claims = jwt.decode(tokens.issue("acc_1", ["admin"]), options={"verify_signature": False})
    return jwt.encode(claims | changes, generate_secret(), algorithm="HS256")


def _unsigned(tokens: TokenIssuer) -> str:
    claims = jwt.decode(tokens.issue("acc_1", ["admin"]), options={"verify_signature": False})
    return jwt.encode(claims, "", algorithm="none")


REFUSED: dict[str, Callable[[TokenIssuer, Clock], dict[str, str]]] = {
    "missing": lambda tokens, clock: {},
    "empty": lambda tokens, clock: {"Authorization": ""},
    "bearer without token": lambda tokens, clock: {"Authorization": "Bearer"},
    "malformed": lambda tokens, clock: {"Authorization": "Bearer not.a.jwt"},
    "wrong signature": lambda tokens, clock: {"Authorization": f"Bearer {_foreign(tokens)}"},
    "alg none": lambda tokens, clock: {"Authorization": f"Bearer {_unsigned(tokens)}"},
    "wrong issuer": lambda tokens, clock: {
        "Authorization": "Bearer "
        + TokenIssuer(generate_secret(), issuer="https://elsewhere", clock=clock).issue("acc_1")
    },
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_bad_token_is_refused_before_the_handler(
    gateway: LocalApiGateway, tokens: TokenIssuer, clock: Clock, calls: Calls, case: str
) -> None:
    response = gateway.invoke(
        "POST", "/subscriptions/sub_1/retry", headers=REFUSED[case](tokens, clock)
    )

    assert response.status == 401
    assert response.headers == {"Content-Type": "application/json"}
    error = response.json()["error"]
    assert (error["code"], error["details"]) == ("unauthorized", None)
    assert error["message"].startswith("Sign in first")
    assert calls.events == []


def test_wrong_issuer_with_the_right_secret_is_refused(
    tokens: TokenIssuer, clock: Clock, calls: Calls
) -> None:
    secret = generate_secret()
    gateway = LocalApiGateway(
        [Route("GET", "/me", "F", "f.handler", authorized=True)],
        verifier=TokenIssuer(secret, clock=clock).verify,
        load_handler=calls.load,
    )
    token = TokenIssuer(secret, issuer="https://elsewhere", clock=clock).issue("acc_1")

    response = gateway.invoke("GET", "/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status == 401
    assert "issued by someone else" in response.json()["error"]["message"]
    assert calls.events == []


def test_expired_token_is_refused_once_the_clock_moves(
    gateway: LocalApiGateway, tokens: TokenIssuer, clock: Clock, calls: Calls
) -> None:
    headers = _bearer(tokens, ttl=timedelta(hours=1))
    assert gateway.invoke("GET", "/subscriptions/sub_1", headers=headers).status == 200

    clock.advance(timedelta(hours=1))
    response = gateway.invoke("GET", "/subscriptions/sub_1", headers=headers)

    assert response.status == 401
    assert "expired" in response.json()["error"]["message"]
    assert len(calls.events) == 1


# The proxy response


def test_response_passes_through(
    calls: Calls, tokens: TokenIssuer, gateway: LocalApiGateway
) -> None:
    calls.answer = lambda event, context: {
        "statusCode": 201,
        "headers": {"Content-Type": "application/json", "Vary": "Origin"},
        "multiValueHeaders": {"Vary": ["Accept", "Origin"], "X-Id": ["1"]},
        "body": '{"id": "sub_1"}',
        "isBase64Encoded": False,
    }

    response = gateway.invoke("POST", "/subscriptions/sub_1/retry", headers=_bearer(tokens))

    assert response == GatewayResponse(
        201,
        {"Content-Type": "application/json", "Vary": "Accept, Origin", "X-Id": "1"},
        '{"id": "sub_1"}',
    )
    assert response.json() == {"id": "sub_1"}


def test_base64_response_body_is_decoded(calls: Calls, gateway: LocalApiGateway) -> None:
    calls.answer = lambda event, context: {
        "statusCode": 200,
        "body": base64.b64encode("café".encode()).decode(),
        "isBase64Encoded": True,
    }

    response = gateway.invoke("GET", "/plans")

    assert (response.status, response.headers, response.body) == (200, {}, "café")


def test_response_without_body(calls: Calls, gateway: LocalApiGateway) -> None:
    calls.answer = lambda event, context: {"statusCode": 204}

    assert gateway.invoke("GET", "/plans") == GatewayResponse(204, {}, "")


def _raises(event: dict[str, Any], context: Any) -> Any:
    raise RuntimeError("boom")


@pytest.mark.parametrize(
    "answer",
    [
        _raises,
        lambda event, context: None,
        lambda event, context: "ok",
        lambda event, context: {"body": "{}"},
        lambda event, context: {"statusCode": "200", "body": "{}"},
        lambda event, context: {"statusCode": True, "body": "{}"},
        lambda event, context: {"statusCode": 700, "body": "{}"},
        lambda event, context: {"statusCode": 200, "body": {"a": 1}},
        lambda event, context: {"statusCode": 200, "headers": {"X": 1}},
        lambda event, context: {"statusCode": 200, "headers": ["X"]},
        lambda event, context: {"statusCode": 200, "multiValueHeaders": {"X": "a"}},
        lambda event, context: {"statusCode": 200, "body": "%%%", "isBase64Encoded": True},
    ],
)
def test_failing_or_malformed_handler_answers_502(
    calls: Calls,
    gateway: LocalApiGateway,
    caplog: pytest.LogCaptureFixture,
    answer: Callable[[dict[str, Any], Any], Any],
) -> None:
    calls.answer = answer

    with caplog.at_level(logging.ERROR, logger="devstack.api_gateway"):
        response = gateway.invoke("GET", "/plans")

    assert response.status == 502
    assert response.headers == {"Content-Type": "application/json"}
    assert response.json()["error"]["code"] == "internal_error"
    assert response.json()["error"]["details"] is None
    [record] = caplog.records
    assert record.exc_info is not None
    assert "SubscriptionsFunction" in record.getMessage()


def test_handler_that_cannot_be_loaded_answers_502(
    tokens: TokenIssuer, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = LocalApiGateway(
        [Route("GET", "/plans", "F", "no_such_module_here.handler", authorized=False)],
        verifier=tokens.verify,
    )

    with caplog.at_level(logging.ERROR, logger="devstack.api_gateway"):
        response = gateway.invoke("GET", "/plans")

    assert response.status == 502
    [record] = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ModuleNotFoundError)


# Handlers


def test_import_handler_finds_the_named_function() -> None:
    assert import_handler("operator.getitem")({"plan": "pro"}, "plan") == "pro"


def test_import_handler_refuses_what_is_not_a_function() -> None:
    with pytest.raises(TypeError, match=re.escape("json.decoder.NaN")):
        import_handler("json.decoder.NaN")


powertools_app = APIGatewayRestResolver()


@powertools_app.post("/subscriptions/<subscription_id>/retry")
def _retry(subscription_id: str) -> dict[str, Any]:
    event = powertools_app.current_event
    claims = event.request_context.authorizer.claims
    return {
        "subscription_id": subscription_id,
        "account_id": claims["custom:account_id"],
        "groups": claims["cognito:groups"].split(","),
        "idempotency_key": event.headers.get("idempotency-key"),
        "body": event.json_body,
    }


def powertools_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    answer: dict[str, Any] = powertools_app.resolve(event, context)
    return answer


def test_powertools_rest_resolver_reads_the_event(tokens: TokenIssuer) -> None:
    gateway = LocalApiGateway(
        routes_from_template(parse_template(TEMPLATE)),
        verifier=tokens.verify,
        load_handler={"retry_now.handler.lambda_handler": powertools_handler}.__getitem__,
    )

    response = gateway.invoke(
        "POST",
        "/subscriptions/sub_42/retry",
        headers={**_bearer(tokens, "acc_5", groups=["sales", "admin"]), "Idempotency-Key": "k1"},
        body='{"note": "now"}',
    )

    assert response.status == 200, response.body
    assert response.headers["Content-Type"] == "application/json"
    assert response.json() == {
        "subscription_id": "sub_42",
        "account_id": "acc_5",
        "groups": ["sales", "admin"],
        "idempotency_key": "k1",
        "body": {"note": "now"},
    }
