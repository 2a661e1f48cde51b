"""Development JWTs standing in for Cognito ID tokens: issued and verified with one per-run
secret, their expiry judged by the local stack's clock."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import jwt

from billing.api.http import AccountRole
from devstack.clock import Clock, wall_clock

DEFAULT_ISSUER = "devstack://cognito"
DEFAULT_AUDIENCE = "billing-local"
_ALGORITHM = "HS256"
_MIN_SECRET_BYTES = 32
"""HS256 wants a key at least as long as its hash (RFC 7518 §3.2)."""

_REQUIRED_CLAIMS = ("sub", "iss", "aud", "iat", "exp", "token_use")

# Most specific first: InvalidSignatureError is a DecodeError.
_REASONS: Sequence[tuple[type[jwt.PyJWTError], str]] = (
    (jwt.InvalidSignatureError, "the signature does not match"),
    (jwt.InvalidAlgorithmError, f"the token is not signed with {_ALGORITHM}"),
    (jwt.InvalidIssuerError, "the token was issued by someone else"),
    (jwt.InvalidAudienceError, "the token is meant for another audience"),
    (jwt.DecodeError, "the token is not a well-formed JWT"),
)


class InvalidToken(Exception):
    """A token the stand-in authorizer refuses; the message says why in plain words."""


def generate_secret() -> str:
    """A fresh random signing secret, for one run of the local stack."""
    return secrets.token_urlsafe(64)


class TokenIssuer:
    """Issues ID tokens shaped like Cognito's and verifies them as the API's authorizer would."""

    def __init__(
        self,
        secret: str,
        *,
        issuer: str = DEFAULT_ISSUER,
        audience: str = DEFAULT_AUDIENCE,
        clock: Clock = wall_clock,
    ) -> None:
        if len(secret.encode()) < _MIN_SECRET_BYTES:
            raise ValueError(f"the signing secret needs at least {_MIN_SECRET_BYTES} bytes")
        self._secret = secret
        self._issuer = issuer
        self._audience = audience
        self._clock = clock

    def issue(
        self,
        account_id: str,
        groups: Sequence[str] = (),
        *,
        account_role: AccountRole | None = AccountRole.ADMIN,
        partner_id: str | None = None,
        ttl: timedelta = timedelta(hours=1),
    ) -> str:
        """An ID token for the user of `account_id` with `account_role` in it (the account's
        administrator unless told otherwise; None for a user whose role was never set), member
        of `groups`. Like Cognito, the token has no claim for an attribute or groups the user
        does not have."""
        issued_at = int(self._clock().timestamp())
        # One stable user per account and role, as a Cognito `sub` is stable per user.
        user_id = str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{self._issuer}/{account_id}/{account_role or ''}")
        )
        claims: dict[str, Any] = {
            "sub": user_id,
            # A pool whose users sign in with their email names them by their `sub`.
            "cognito:username": user_id,
            "custom:account_id": account_id,
            "token_use": "id",
            "iss": self._issuer,
            "aud": self._audience,
            "auth_time": issued_at,
            "iat": issued_at,
            "exp": issued_at + int(ttl.total_seconds()),
            "jti": str(uuid.uuid4()),
        }
        if account_role is not None:
            claims["custom:account_role"] = account_role.value
        if groups:
            claims["cognito:groups"] = list(groups)
        if partner_id is not None:
            claims["custom:partner_id"] = partner_id
        return jwt.encode(claims, self._secret, algorithm=_ALGORITHM)

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims, if it is one of ours, unexpired by the injected clock and an ID
        token; otherwise `InvalidToken`."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=[_ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # PyJWT judges time by the machine's clock; the local stack moves its own.
                options={
                    "require": list(_REQUIRED_CLAIMS),
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.MissingRequiredClaimError as error:
            raise InvalidToken(f"the token has no {error.claim} claim") from error
        except jwt.PyJWTError as error:
            raise InvalidToken(_reason(error)) from error
        if not isinstance(claims["exp"], int) or claims["exp"] <= self._clock().timestamp():
            raise InvalidToken("the token has expired")
        if claims["token_use"] != "id":
            raise InvalidToken("the token is not an ID token")
        return claims


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason
    return f"the token is not valid ({error})"
