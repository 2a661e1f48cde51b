"""Who calls: the caller read from the claims the Cognito authorizer verified, what each kind of
route requires of it, and the user pool attributes those claims come from (template.yaml)."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent

from billing.api.http import (
    ACCOUNT_ADMIN,
    ANYONE,
    AccountRole,
    Caller,
    Requirement,
    caller,
    staff,
)
from billing.domain.errors import DomainError, ErrorCode
from tests.support.aws import resources_of_type

ADMIN_CLAIMS = {
    "sub": "0b6c5a51-3f0e-4c1e-9d8a-5f2e7c1b9a40",
    "custom:account_id": "acct_1",
    "custom:account_role": "admin",
}


def _event(claims: dict[str, Any] | None) -> APIGatewayProxyEvent:
    context: dict[str, Any] = {} if claims is None else {"authorizer": {"claims": claims}}
    return APIGatewayProxyEvent({"requestContext": context, "headers": {}})


def _refusal(requirement: Requirement, claims: dict[str, Any] | None) -> DomainError:
    with pytest.raises(DomainError) as refused:
        requirement.admit(_event(claims))
    return refused.value


def test_the_caller_is_read_from_the_claims() -> None:
    claims = ADMIN_CLAIMS | {"cognito:groups": "partner,sales", "custom:partner_id": "reseller-7"}

    assert caller(_event(claims)) == Caller(
        account_id="acct_1",
        user_id="0b6c5a51-3f0e-4c1e-9d8a-5f2e7c1b9a40",
        groups=frozenset({"partner", "sales"}),
        account_role=AccountRole.ADMIN,
        partner_id="reseller-7",
    )


@pytest.mark.parametrize("role", [None, "", "owner", "ADMIN", "admin "])
def test_a_missing_or_unknown_account_role_is_no_role(role: str | None) -> None:
    claims = {k: v for k, v in ADMIN_CLAIMS.items() if k != "custom:account_role"}
    if role is not None:
        claims["custom:account_role"] = role

    assert caller(_event(claims)).account_role is None


@pytest.mark.parametrize("missing", ["sub", "custom:account_id"])
def test_claims_without_a_user_or_an_account_are_unauthorized(missing: str) -> None:
    claims = {k: v for k, v in ADMIN_CLAIMS.items() if k != missing}

    assert _refusal(ACCOUNT_ADMIN, claims).code is ErrorCode.UNAUTHORIZED


def test_anyone_may_call_a_public_route_without_claims() -> None:
    ANYONE.admit(_event(None))


def test_customer_routes_admit_the_account_admin_only() -> None:
    ACCOUNT_ADMIN.admit(_event(ADMIN_CLAIMS))

    for role in ("user", None):
        claims = ADMIN_CLAIMS | {"custom:account_role": role}
        refused = _refusal(ACCOUNT_ADMIN, {k: v for k, v in claims.items() if v is not None})
        assert refused.code is ErrorCode.FORBIDDEN
        assert refused.details == {"required_account_role": "admin"}
    # A staff group is no role in an account.
    staff_user = ADMIN_CLAIMS | {"custom:account_role": "user", "cognito:groups": "admin"}
    assert _refusal(ACCOUNT_ADMIN, staff_user).code is ErrorCode.FORBIDDEN
    assert _refusal(ACCOUNT_ADMIN, None).code is ErrorCode.UNAUTHORIZED


def test_staff_routes_admit_their_groups_whatever_the_account_role() -> None:
    partners = staff("admin", "partner")

    partners.admit(
        _event(ADMIN_CLAIMS | {"custom:account_role": "user", "cognito:groups": "partner"})
    )
    refused = _refusal(partners, ADMIN_CLAIMS | {"cognito:groups": "sales"})
    assert refused.code is ErrorCode.FORBIDDEN
    assert refused.details == {"required_roles": ["admin", "partner"]}
    assert _refusal(partners, ADMIN_CLAIMS).code is ErrorCode.FORBIDDEN


def test_the_claims_read_are_user_pool_attributes_users_cannot_write() -> None:
    """A user who could write their own role or account would promote themselves."""
    [pool] = resources_of_type("AWS::Cognito::UserPool").values()
    [client] = resources_of_type("AWS::Cognito::UserPoolClient").values()
    attributes = {a["Name"]: a for a in pool["Properties"]["Schema"]}
    read = {"custom:account_id", "custom:account_role", "custom:partner_id"}

    assert {f"custom:{name}" for name in attributes} >= read
    assert attributes["account_role"]["AttributeDataType"] == "String"
    assert set(client["Properties"]["ReadAttributes"]) >= read
    assert not set(client["Properties"].get("WriteAttributes", [])) & read
