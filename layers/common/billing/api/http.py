"""The resolver every API function uses: who may call each route, checked first, then request
validation, the caller from the Cognito claims, and one error shape for every failure."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver, CORSConfig, Response
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver, Route
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware
from aws_lambda_powertools.event_handler.middlewares.openapi_validation import (
    OpenAPIRequestValidationMiddleware,
)
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Path
from aws_lambda_powertools.event_handler.router import APIGatewayRouter
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEvent
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel

from billing import composition
from billing.domain.errors import DEFAULT_MESSAGES, DomainError, ErrorCode
from billing.domain.state_machine import Actor, Requester
from billing.domain.values import frozen
from billing.observability import logger
from billing.persistence.repository import StorageUnavailable

IDEMPOTENCY_KEY = "Idempotency-Key"
"""The request header of a client's retry key (`billing.api.idempotency`)."""
CORS_MAX_AGE = 600
"""Seconds a browser keeps a preflight's answer, as the template's ``Cors`` says."""

STATUS: Mapping[ErrorCode, int] = {
    ErrorCode.NO_ACTION_REQUIRED: 409,
    ErrorCode.SUBSCRIPTION_CANCELLED: 409,
    ErrorCode.MANAGED_BY_PARTNER: 409,
    ErrorCode.NOT_PARTNER_MANAGED: 409,
    ErrorCode.PERIOD_ENDED: 409,
    ErrorCode.NOT_DUE: 409,
    ErrorCode.RETRY_IN_PROGRESS: 409,
    ErrorCode.TOO_MANY_RETRIES: 429,
    ErrorCode.PAYMENT_METHOD_REQUIRED: 409,
    ErrorCode.PAYMENT_DECLINED: 402,
    ErrorCode.SUBSCRIPTION_EXISTS: 409,
    ErrorCode.UNKNOWN_PLAN: 422,
    ErrorCode.UNKNOWN_COUPON: 422,
    ErrorCode.CONCURRENT_MODIFICATION: 409,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.INVALID_FIELDS: 422,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.BAD_REQUEST: 400,
    ErrorCode.CONTACT_SALES: 409,
    ErrorCode.PAYMENT_METHOD_REJECTED: 402,
    ErrorCode.PROVIDER_UNAVAILABLE: 503,
    ErrorCode.PAYMENT_PENDING: 503,
    ErrorCode.SERVICE_UNAVAILABLE: 503,
    ErrorCode.IDEMPOTENCY_KEY_REUSED: 422,
    ErrorCode.REQUEST_IN_PROGRESS: 409,
    ErrorCode.INTERNAL_ERROR: 500,
    ErrorCode.PAYMENT_NOT_REFUNDABLE: 409,
    ErrorCode.REFUND_TOO_LARGE: 422,
    ErrorCode.REFUND_IN_PROGRESS: 409,
    ErrorCode.REFUND_REFUSED: 422,
    ErrorCode.INVALID_SIGNATURE: 400,
    ErrorCode.AUTHENTICATION_REQUIRED: 402,
    ErrorCode.SETUP_INCOMPLETE: 409,
}
"""The HTTP status of every error code."""

TRANSIENT: frozenset[ErrorCode] = frozenset(
    {
        ErrorCode.RETRY_IN_PROGRESS,
        ErrorCode.CONCURRENT_MODIFICATION,
        ErrorCode.TOO_MANY_RETRIES,
        ErrorCode.PROVIDER_UNAVAILABLE,
        ErrorCode.PAYMENT_PENDING,
        ErrorCode.SERVICE_UNAVAILABLE,
        ErrorCode.REQUEST_IN_PROGRESS,
        ErrorCode.REFUND_IN_PROGRESS,
        ErrorCode.INTERNAL_ERROR,
        ErrorCode.SETUP_INCOMPLETE,
    }
)
"""Answers that say "not now" rather than "no": a repeat with the same Idempotency-Key runs
the request again instead of getting this answer back."""

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$"
"""What an id in a path can look like; anything else cannot exist, so it is answered 404."""

ResourceId = Annotated[str, Path(pattern=ID_PATTERN, max_length=100)]

JSON = "application/json"


def json_response(
    status: int, body: Any, headers: Mapping[str, str] | None = None
) -> Response[Any]:
    return Response(status, JSON, json.dumps(body, separators=(",", ":")), dict(headers or {}))


def error_body(code: ErrorCode, message: str | None = None, details: Any = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code.value,
            "message": message or DEFAULT_MESSAGES[code],
            "details": details,
        }
    }


def error_response(error: DomainError) -> Response[Any]:
    status = STATUS[error.code]
    headers = {"Retry-After": "60"} if status == 503 else {}
    return json_response(
        status, error_body(error.code, error.message, error.details or None), headers
    )


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location[1:]) or str(location[0])


def invalid_field(field: str, code: str, message: str) -> DomainError:
    """A 422 about one field (or ``body``, the request's body as a whole)."""
    return DomainError(
        ErrorCode.INVALID_FIELDS, details=[{"field": field, "code": code, "message": message}]
    )


def invalid_fields(errors: Iterable[Mapping[str, Any]]) -> DomainError:
    """One entry per field, the first problem found with it, in the error shape."""
    details: dict[str, dict[str, str]] = {}
    for error in errors:
        malformed = error["type"] == "json_invalid"  # its location is a character offset
        field = "body" if malformed or not error["loc"] else _field(error["loc"])
        code = "invalid_json" if malformed else error["type"]
        details.setdefault(field, {"field": field, "code": code, "message": error["msg"]})
    return DomainError(ErrorCode.INVALID_FIELDS, details=list(details.values()))


class AccountRole(StrEnum):
    """A user's role in its own account: the ``custom:account_role`` claim."""

    ADMIN = "admin"
    """Manages the account's billing: buys, reads the purchase history, changes payment details."""
    USER = "user"
    """Uses what the account bought; sees and changes none of its billing."""


@frozen
class Caller:
    """Who is calling, from the claims API Gateway's Cognito authorizer verified."""

    account_id: str
    user_id: str
    """The user's Cognito ``sub``: stable per user, unlike the email they sign in with."""
    groups: frozenset[str]
    """Staff roles: the user pool's groups (admin, sales, partner)."""
    account_role: AccountRole | None = None
    """None when the token has no known role: such a user is given no account role at all."""
    partner_id: str | None = None

    def in_group(self, role: str) -> bool:
        return role in self.groups

    def acting_as(self, actor: Actor) -> Requester:
        """This caller as the audit trail names them: a partner by its partner id, anyone else
        by their user id."""
        if actor is Actor.PARTNER and self.partner_id is not None:
            return Requester(actor, self.partner_id)
        return Requester(actor, self.user_id)


def _groups(claim: Any) -> frozenset[str]:
    """`cognito:groups` as a list, or as API Gateway renders a list claim into a string:
    ``admin,sales`` or ``[admin sales]``."""
    if isinstance(claim, list):
        return frozenset(str(group) for group in claim)
    if not isinstance(claim, str):
        return frozenset()
    return frozenset(claim.strip("[]").replace(",", " ").split())


def _text(claim: Any) -> str | None:
    return claim if isinstance(claim, str) and claim else None


def caller(event: APIGatewayProxyEvent) -> Caller:
    """The caller of an authorised route; unauthorized when the claims carry no account or
    user."""
    context: dict[str, Any] = event.raw_event.get("requestContext") or {}
    authorizer: dict[str, Any] = context.get("authorizer") or {}
    claims: dict[str, Any] = authorizer.get("claims") or {}
    account_id = _text(claims.get("custom:account_id"))
    user_id = _text(claims.get("sub"))
    if account_id is None or user_id is None:
        raise DomainError(ErrorCode.UNAUTHORIZED)
    role = _text(claims.get("custom:account_role"))
    return Caller(
        account_id=account_id,
        user_id=user_id,
        groups=_groups(claims.get("cognito:groups")),
        account_role=AccountRole(role) if role in set(AccountRole) else None,
        partner_id=_text(claims.get("custom:partner_id")),
    )


@frozen
class Requirement:
    """Who may call a route, declared beside it with `requires`. The resolver checks it before
    anything else of the request (`api`), so a caller it refuses learns nothing about what the
    route would accept."""

    signed_in: bool = True
    """False for public routes: no token, no claims."""
    groups: frozenset[str] = frozenset()
    """Staff routes: a member of one of these user pool groups."""
    account_role: AccountRole | None = None
    """Customer routes: a user with this role in the account the request acts on, their own."""

    def admit(self, event: APIGatewayProxyEvent) -> None:
        """Unauthorized without a signed-in caller, forbidden unless the caller meets it."""
        if not self.signed_in:
            return
        who = caller(event)
        if self.groups and not self.groups & who.groups:
            raise DomainError(ErrorCode.FORBIDDEN, details={"required_roles": sorted(self.groups)})
        if self.account_role is not None and who.account_role is not self.account_role:
            raise DomainError(
                ErrorCode.FORBIDDEN, details={"required_account_role": self.account_role.value}
            )


ANYONE = Requirement(signed_in=False)
"""The catalogue: no token needed."""
ACCOUNT_ADMIN = Requirement(account_role=AccountRole.ADMIN)
"""Every customer route: billing and purchase history are the account administrators' alone."""


def staff(*groups: str) -> Requirement:
    """Staff routes: members of any of `groups` (admin, sales, partner), whatever their account."""
    return Requirement(groups=frozenset(groups))


_REQUIREMENTS: dict[Callable[..., Any], Requirement] = {}


def requires[F: Callable[..., Any]](requirement: Requirement) -> Callable[[F], F]:
    """Declares who may call the route a function answers (decorate it under the route)."""

    def declare(route: F) -> F:
        _REQUIREMENTS[route] = requirement
        return route

    return declare


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    body = dict(pairs)
    if len(body) < len(pairs):
        raise invalid_field(
            "body", "duplicate_key", "A key appears twice in one object: send each key once."
        )
    return body


def _json_integer(digits: str) -> int:
    try:
        return int(digits)
    except ValueError as error:  # past the interpreter's int-string limit (4300 digits)
        raise invalid_field("body", "number_too_long", "A number has too many digits.") from error


def parse_json(text: str) -> Any:
    """A request body, read as `json.loads` reads it but for what it would accept silently or
    fail on: a key repeated in an object (the last value would win, unlike in other readers)
    and an integer past Python's int-string limit (a ValueError where a JSONDecodeError is
    expected, which would have been a 500)."""
    return json.loads(text, object_pairs_hook=_json_object, parse_int=_json_integer)


def _json_only(event: APIGatewayProxyEvent) -> None:
    """Unsupported media type unless a body would be read as JSON. Powertools also parses form
    and multipart bodies (and fails with a ValueError, a 500, on a multipart type without its
    boundary); every body of this API is JSON."""
    media_type = event.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in ("", JSON):
        raise DomainError(ErrorCode.UNSUPPORTED_MEDIA_TYPE, details={"accepted": [JSON]})


class _AdmitThenValidate(OpenAPIRequestValidationMiddleware):
    """Powertools' request validation, run once the caller is admitted and the body is JSON.

    Powertools puts request validation before every middleware of ours, router's and route's
    alike (`Route._build_middleware_stack`), so a role checked there, or in the handler, would
    come after a 422 that describes the body to a caller who may not send it. Taking
    validation's place instead orders every route's answers: 401, 403, 415, then validation's
    422 or 404. Routes that declare no requirement (the local stack's development routes,
    unknown paths) are checked by nobody."""

    def handler(self, app: ApiGatewayResolver, next_middleware: NextMiddleware) -> Response[Any]:
        route: Route = app.context["_route"]
        event = app.current_event
        assert isinstance(event, APIGatewayProxyEvent)
        requirement = _REQUIREMENTS.get(route.func)
        if requirement is not None:
            requirement.admit(event)
        if route.dependant.body_params:
            _json_only(event)
        return super().handler(app, next_middleware)


_TRANSLATED: tuple[tuple[type[Exception], ErrorCode], ...] = (
    (StorageUnavailable, ErrorCode.SERVICE_UNAVAILABLE),
    (IdempotencyAlreadyInProgressError, ErrorCode.REQUEST_IN_PROGRESS),
    (IdempotencyValidationError, ErrorCode.IDEMPOTENCY_KEY_REUSED),
    (IdempotencyPersistenceLayerError, ErrorCode.SERVICE_UNAVAILABLE),
    (RequestUnsupportedContentType, ErrorCode.UNSUPPORTED_MEDIA_TYPE),
)
"""Failures of the parts behind the API, as the caller sees them; and a payment provider's
(`billing.providers.gateway.ProviderError`), PROVIDER_UNAVAILABLE, which only the functions that
charge can meet: its module is loaded where it is raised, not by every API function."""


def _as_domain_error(error: Exception) -> DomainError:
    if isinstance(error, DomainError):
        return error
    if isinstance(error, RequestValidationError):
        errors = error.errors()
        if any(e["loc"] and e["loc"][0] == "path" for e in errors):
            return DomainError(ErrorCode.NOT_FOUND)
        return invalid_fields(errors)
    if isinstance(error, RecursionError):
        # JSON nested deeper than the parser goes: bad input, not a bug of ours.
        return invalid_field("body", "too_deep", "The body is nested too deeply.")
    from billing.providers.gateway import ProviderError  # noqa: PLC0415 - see _TRANSLATED

    for kind, code in ((ProviderError, ErrorCode.PROVIDER_UNAVAILABLE), *_TRANSLATED):
        if isinstance(error, kind):
            logger.warning("request failed", extra={"error": repr(error), "code": code.value})
            return DomainError(code)
    logger.exception("unhandled error")
    return DomainError(ErrorCode.INTERNAL_ERROR)


def answer_error(error: Exception) -> Response[Any]:
    """The error-shaped answer to any exception a route raised."""
    return error_response(_as_domain_error(error))


def api(*routers: APIGatewayRouter, page_origin: str | None = None) -> APIGatewayRestResolver:
    """A resolver that checks who calls each route, then validates the request, and answers
    every failure in the error shape; answers to the customer's billing page (`page_origin`,
    the one origin whose scripts may read them) carry the CORS headers its browser asks for."""
    cors = None
    if page_origin is not None:
        cors = CORSConfig(
            allow_origin=page_origin,
            allow_headers=[IDEMPOTENCY_KEY],
            expose_headers=["Retry-After"],
            max_age=CORS_MAX_AGE,
        )
    app = APIGatewayRestResolver(
        cors=cors, enable_validation=True, json_body_deserializer=parse_json
    )
    app._request_validation_middleware = _AdmitThenValidate()  # type: ignore[no-untyped-call]
    for router in routers:
        app.include_router(router)
    app.exception_handler(
        [
            DomainError,
            RequestValidationError,
            RecursionError,
            *(kind for kind, _ in _TRANSLATED),
            Exception,
        ]
    )(answer_error)
    app.not_found(lambda _: error_response(DomainError(ErrorCode.NOT_FOUND, "No such route.")))
    return app


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorView(BaseModel):
    """Every error, whatever its status: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


def documented(
    status: int,
    model: type[BaseModel] | None,
    *errors: ErrorCode,
    also: int | None = None,
    public: bool = False,
    idempotent: bool = False,
) -> dict[int, Any]:
    """The OpenAPI `responses` of a route: its success (`also`: a second success status, e.g.
    201 when a PUT creates), the errors it documents, and the ones it may answer as any route
    does: 401 and 403 unless it is `public`; the Idempotency-Key errors and 415 when it is
    `idempotent` (every route that changes something)."""
    success: dict[str, Any] = (
        {"description": "Success"}
        if model is None
        else {"description": "Success", "content": {JSON: {"model": model}}}
    )
    responses: dict[int, Any] = {status: success}
    if also is not None:
        responses[also] = success
    implied = (
        *(() if public else (ErrorCode.UNAUTHORIZED, ErrorCode.FORBIDDEN)),
        *(
            (
                ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                ErrorCode.IDEMPOTENCY_KEY_REUSED,
                ErrorCode.REQUEST_IN_PROGRESS,
            )
            if idempotent
            else ()
        ),
        ErrorCode.INVALID_FIELDS,
        ErrorCode.SERVICE_UNAVAILABLE,
        ErrorCode.INTERNAL_ERROR,
    )
    for code in dict.fromkeys((*errors, *implied)):
        entry = responses.setdefault(
            STATUS[code], {"description": "", "content": {JSON: {"model": ErrorView}}}
        )
        entry["description"] = ", ".join(filter(None, (entry["description"], code.value)))
    return responses


def ok(model: BaseModel | Sequence[BaseModel], status: int = 200) -> Response[Any]:
    """A success answer; lists are answered as ``{"items": [...]}``."""
    if isinstance(model, BaseModel):
        return json_response(status, model.model_dump(mode="json"))
    return json_response(status, {"items": [item.model_dump(mode="json") for item in model]})


Handler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]


def entry_point(router: APIGatewayRouter, *, charges: bool = False) -> Handler:
    """The Lambda handler of an API function: its routes, logged with the request's
    correlation id. Made when the function starts, which starts the composition root (see
    `Root.start`; `charges`: the function's routes take payments or save payment methods)."""
    started = composition.root()
    started.start(charges=charges)
    app = api(router, page_origin=started.contacts.page_origin)

    @logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
    def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return app.resolve(event, context)

    return lambda_handler


def api_router() -> APIGatewayRouter:
    """The routes of one API function, included into its resolver by `entry_point`."""
    return APIGatewayRouter()  # type: ignore[no-untyped-call]


def current_caller(router: APIGatewayRouter) -> Caller:
    """The caller of the route being run, already admitted by the route's requirement."""
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEvent)
    return caller(event)
