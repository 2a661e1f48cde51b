"""Development ID tokens: shaped like Cognito's, for an account's administrator or a plain user,
refused for every reason the authorizer would refuse a real one, their expiry judged by the
injected clock; and POST /_dev/token, which issues them in the local stack."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest

from billing.api.http import AccountRole
from devstack import development
from devstack.api_gateway import GatewayResponse, LocalApiGateway
from devstack.clock import StackClock
from devstack.tokens import (
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    InvalidToken,
    TokenIssuer,
    generate_secret,
)

START = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, delta: timedelta) -> None:
        self.now += delta


@pytest.fixture
def clock() -> Clock:
    return Clock(START)


@pytest.fixture
def secret() -> str:
    return generate_secret()


@pytest.fixture
def issuer(secret: str, clock: Clock) -> TokenIssuer:
    return TokenIssuer(secret, clock=clock)


def _claims(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def test_issued_token_carries_cognito_id_token_claims(issuer: TokenIssuer) -> None:
    token = issuer.issue("acc_1", ["admin", "sales"], partner_id="partner_9")

    claims = issuer.verify(token)

    assert claims["custom:account_id"] == "acc_1"
    assert claims["custom:account_role"] == "admin"
    assert claims["cognito:groups"] == ["admin", "sales"]
    assert claims["custom:partner_id"] == "partner_9"
    assert claims["cognito:username"] == claims["sub"]
    assert claims["token_use"] == "id"
    assert claims["iss"] == DEFAULT_ISSUER
    assert claims["aud"] == DEFAULT_AUDIENCE
    start = int(START.timestamp())
    assert (claims["iat"], claims["auth_time"], claims["exp"]) == (start, start, start + 3600)
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_user_in_no_group_has_no_groups_claim_like_cognito(issuer: TokenIssuer) -> None:
    claims = issuer.verify(issuer.issue("acc_1"))

    assert "cognito:groups" not in claims
    assert "custom:partner_id" not in claims


def test_a_plain_user_or_one_without_a_role_is_another_user_of_the_account(
    issuer: TokenIssuer,
) -> None:
    admin = issuer.verify(issuer.issue("acc_1"))
    user = issuer.verify(issuer.issue("acc_1", account_role=AccountRole.USER))
    unset = issuer.verify(issuer.issue("acc_1", account_role=None))

    assert (admin["custom:account_role"], user["custom:account_role"]) == ("admin", "user")
    assert "custom:account_role" not in unset
    assert {admin["custom:account_id"], user["custom:account_id"], unset["custom:account_id"]} == {
        "acc_1"
    }
    assert len({admin["sub"], user["sub"], unset["sub"]}) == 3


def test_sub_is_stable_per_account_and_role(issuer: TokenIssuer) -> None:
    first = issuer.verify(issuer.issue("acc_1"))
    again = issuer.verify(issuer.issue("acc_1", ["admin"]))
    other = issuer.verify(issuer.issue("acc_2"))

    assert first["sub"] == again["sub"] != other["sub"]
    assert first["jti"] != again["jti"]


def test_ttl_sets_expiry(issuer: TokenIssuer) -> None:
    claims = issuer.verify(issuer.issue("acc_1", ttl=timedelta(minutes=5)))

    assert claims["exp"] - claims["iat"] == 300


def test_expiry_follows_the_injected_clock(issuer: TokenIssuer, clock: Clock) -> None:
    token = issuer.issue("acc_1", ttl=timedelta(hours=1))

    clock.advance(timedelta(minutes=59, seconds=59))
    issuer.verify(token)
    clock.advance(timedelta(seconds=1))
    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(token)


def test_token_issued_on_a_clock_moved_into_the_future_verifies(
    issuer: TokenIssuer, clock: Clock
) -> None:
    clock.advance(timedelta(days=400))

    assert issuer.verify(issuer.issue("acc_1"))["custom:account_id"] == "acc_1"


def test_other_secret_is_refused(issuer: TokenIssuer, clock: Clock) -> None:
    forged = TokenIssuer(generate_secret(), clock=clock).issue("acc_1", ["admin"])

    with pytest.raises(InvalidToken, match="signature"):
        issuer.verify(forged)


def test_unsigned_token_is_refused(issuer: TokenIssuer) -> None:
    claims = _claims(issuer.issue("acc_1", ["admin"]))
    unsigned = jwt.encode(claims, "", algorithm="none")

    with pytest.raises(InvalidToken, match="HS256"):
        issuer.verify(unsigned)


def test_other_algorithm_with_the_right_secret_is_refused(issuer: TokenIssuer, secret: str) -> None:
    claims = _claims(issuer.issue("acc_1"))

    with pytest.raises(InvalidToken, match="HS256"):
        issuer.verify(jwt.encode(claims, secret, algorithm="HS512"))


@pytest.mark.parametrize(
    ("claim", "value", "reason"),
    [
        ("iss", "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_other", "issued by"),
        ("aud", "another-client", "audience"),
        ("token_use", "access", "not an ID token"),
    ],
)
def test_foreign_claims_are_refused(
    issuer: TokenIssuer, secret: str, claim: str, value: str, reason: str
) -> None:
    claims = _claims(issuer.issue("acc_1")) | {claim: value}

    with pytest.raises(InvalidToken, match=reason):
        issuer.verify(jwt.encode(claims, secret, algorithm="HS256"))


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud", "token_use"])
def test_missing_claim_is_refused(issuer: TokenIssuer, secret: str, claim: str) -> None:
    claims = _claims(issuer.issue("acc_1"))
    del claims[claim]

    with pytest.raises(InvalidToken, match=claim):
        issuer.verify(jwt.encode(claims, secret, algorithm="HS256"))


def test_non_numeric_expiry_is_refused(issuer: TokenIssuer, secret: str) -> None:
    claims = _claims(issuer.issue("acc_1")) | {"exp": "tomorrow"}

    with pytest.raises(InvalidToken, match="expired"):
        issuer.verify(jwt.encode(claims, secret, algorithm="HS256"))


@pytest.mark.parametrize("token", ["", "not-a-jwt", "a.b.c", "Bearer x.y.z"])
def test_garbage_is_refused(issuer: TokenIssuer, token: str) -> None:
    with pytest.raises(InvalidToken, match="well-formed"):
        issuer.verify(token)


def test_issuer_and_audience_are_configurable(secret: str, clock: Clock) -> None:
    custom = TokenIssuer(secret, issuer="https://issuer.test", audience="web", clock=clock)
    token = custom.issue("acc_1")

    assert custom.verify(token)["iss"] == "https://issuer.test"
    with pytest.raises(InvalidToken):
        TokenIssuer(secret, clock=clock).verify(token)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        TokenIssuer("too-short")


def test_generated_secrets_are_long_and_fresh() -> None:
    first, second = generate_secret(), generate_secret()

    assert first != second
    assert len(first.encode()) >= 32


# --- POST /_dev/token -----------------------------------------------------------------------------


@pytest.fixture
def local_stack(issuer: TokenIssuer) -> LocalApiGateway:
    """The development routes behind the local API Gateway, as `make dev` serves them."""
    routes = development.Development(
        clock=StackClock(START),
        issuer=issuer,
        groups=frozenset({"admin", "sales", "partner"}),
        run_renewals=lambda: pytest.fail("not a token request"),
        emails=list,
        notices=list,
    )
    return LocalApiGateway(
        development.routes(),
        verifier=issuer.verify,
        load_handler=lambda _: development.handler(routes),
    )


def _token(stack: LocalApiGateway, body: dict[str, Any]) -> GatewayResponse:
    return stack.invoke(
        "POST",
        "/_dev/token",
        headers={"Content-Type": "application/json"},
        body=json.dumps(body),
    )


def test_the_token_route_mints_an_account_admin_unless_told_otherwise(
    local_stack: LocalApiGateway, issuer: TokenIssuer
) -> None:
    admin = _token(local_stack, {"account_id": "demo"})
    user = _token(local_stack, {"account_id": "demo", "account_role": "user"})

    assert (admin.status, user.status) == (200, 200), (admin.body, user.body)
    assert (admin.json()["account_role"], user.json()["account_role"]) == ("admin", "user")
    admin_claims = issuer.verify(admin.json()["token"])
    user_claims = issuer.verify(user.json()["token"])
    assert (admin_claims["custom:account_role"], user_claims["custom:account_role"]) == (
        "admin",
        "user",
    )
    assert admin_claims["sub"] != user_claims["sub"]


def test_the_token_route_refuses_a_role_accounts_do_not_have(
    local_stack: LocalApiGateway,
) -> None:
    refused = _token(local_stack, {"account_id": "demo", "account_role": "owner"})

    assert refused.status == 422, refused.body
    [detail] = refused.json()["error"]["details"]
    assert (detail["field"], detail["code"]) == ("account_role", "enum")
