"""Least privilege, checked against the code: every function's role as SAM deploys it, against the
AWS requests its handler sends while a customer, the staff and the renewal schedule go through
every route and every kind of renewal — in moto server, with the providers' credentials read from
Secrets Manager as in AWS. Each request must be allowed; each permission must be used."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import pytest
import stripe
from aws_lambda_powertools.utilities import parameters

from billing import composition
from billing.api.billing_form import EXAMPLE
from devstack.api_gateway import (
    Handler,
    LocalApiGateway,
    LocalLambdaContext,
    import_handler,
    routes_from_template,
)
from devstack.event_sources import StreamPoller, poller_for, stream_poller_for
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.resources import (
    LOCAL_STRIPE_KEY,
    LocalResources,
    Secret,
    create_resources,
    parameter_value,
    resolve,
)
from devstack.stack import functions_environment
from devstack.tokens import TokenIssuer, generate_secret
from tests.support.api import Api, Client, Clock, expect_error, fresh_account_id
from tests.support.aws import TEMPLATE, resources_of_type, template
from tests.support.iam import (
    Arns,
    CallRecorder,
    Permission,
    allows,
    granted,
    listed,
    needed,
    recording_calls,
    role_of,
)
from tests.support.localstripe import authenticate
from tests.support.moto_server import MotoServer
from tests.support.notifications import open_server_outbox, outbox_stream
from tests.support.renewals import WORKER, RenewalSchedule
from tests.support.stand_ins import STRIPE_WEBHOOK_SECRET, StandIn
from tests.support.webhooks import (
    Delivery,
    Receiver,
    of_type,
    paypal_webhook,
    receiving,
    stripe_endpoint,
)

FUNCTIONS = sorted(resources_of_type("AWS::Serverless::Function"))
EVENTS = TEMPLATE.parent / "events" / "notify"
PLAN = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}

_IDEMPOTENT_ROUTES = (
    "SubscriptionsFunction",
    "RetryNowFunction",
    "CancelFunction",
    "UpdateBillingFunction",
    "AdminFunction",
)
_SETTLE_OTHERS = ("SubscriptionsFunction", "RetryNowFunction", "UpdateBillingFunction")
NOT_REACHED: Mapping[tuple[str, str, str], str] = {
    **{
        (function, "dynamodb:DeleteItem", "IdempotencyTable"): (
            "Powertools deletes the in-progress record when a request fails transiently "
            "(provider or storage unavailable), so that the client's repeat runs it again"
        )
        for function in _IDEMPOTENT_ROUTES
    },
    **{
        (function, "dynamodb:GetItem", "IdempotencyTable"): (
            "Powertools reads the first request's record when a repeat's conditional write "
            "comes back without it (DynamoDB returns it; the read is the fallback)"
        )
        for function in _IDEMPOTENT_ROUTES
    },
    **{
        (function, "dynamodb:GetItem", "ChargeAttemptsTable"): (
            "claim() reads the attempt that holds a charge key already: a concurrent caller's, "
            "or an abandoned one to look up (billing/charging.py, _take)"
        )
        # RetryNowFunction reads attempts anyway: a refund reads the payment it gives back.
        for function in (*_SETTLE_OTHERS, "RenewalWorkerFunction")
        if function != "RetryNowFunction"
    },
    **{
        (function, "dynamodb:UpdateItem", "AccountsTable"): (
            "settling an abandoned scheduled retry found under the key it claims can cancel the "
            "subscription (the last retry), which clears the account's open subscription"
        )
        for function in ("UpdateBillingFunction",)
    },
    ("WebhookEventsFunction", "dynamodb:UpdateItem", "AccountsTable"): (
        "a webhook that settles a pending last scheduled retry as declined cancels the "
        "subscription, which clears the account's open subscription (billing/charging.py, settle)"
    ),
    ("NotifyFunction", "dynamodb:GetItem", "OutboxTable"): (
        "taking a message that is not in the outbox (a stream record of an item deleted since) "
        "reads whether it exists, to tell it from one another sender holds (billing/delivery.py)"
    ),
}
"""Permissions for code paths this scenario does not go through, each with the path; the
other tests go through them (idempotency, charge_operation and renewal tests)."""

AWS_MANAGED = "arn:aws:iam::aws:policy/"
BASIC_EXECUTION = f"{AWS_MANAGED}service-role/AWSLambdaBasicExecutionRole"
"""Logs: CreateLogStream and PutLogEvents (and CreateLogGroup), on any log group."""
TRACING = f"{AWS_MANAGED}AWSXrayWriteOnlyAccess"
"""X-Ray segments; X-Ray has no resource-level permissions."""
SQS_POLLING = f"{AWS_MANAGED}service-role/AWSLambdaSQSQueueExecutionRole"
"""What Lambda's SQS poller does with the function's role: receive, delete, read attributes."""
STREAM_POLLING = f"{AWS_MANAGED}service-role/AWSLambdaDynamoDBExecutionRole"
"""What Lambda's DynamoDB stream mapping does with the function's role: describe the stream,
read its shards and records."""


def _secrets(moto: MotoServer, resources: LocalResources) -> dict[str, Secret]:
    """The template's secrets in moto, holding the stand-ins' credentials as docs/deploy.md
    says to store real ones."""
    values = {
        "StripeSecret": LOCAL_STRIPE_KEY,
        "PayPalSecret": json.dumps({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}),
        "StripeWebhookSecret": STRIPE_WEBHOOK_SECRET,
    }
    client = moto.client("secretsmanager")
    secrets = {}
    for logical_id, resource in resources_of_type("AWS::SecretsManager::Secret").items():
        name = resolve(resource["Properties"]["Name"], template(), resources)
        created = client.create_secret(Name=name, SecretString=values[logical_id])
        secrets[logical_id] = Secret(name, created["ARN"])
    return secrets


@dataclass(frozen=True)
class Deployment:
    api: Api
    schedule: RenewalSchedule
    recorder: CallRecorder
    resources: LocalResources
    paypal: StandIn
    localstripe: StandIn
    notify: Handler
    """NotifyFunction's handler, for its sweep and SES's feedback (its stream feeds it too)."""
    webhooks: Receiver
    """Where the stand-ins deliver their events, for the scenario to send on to the API."""
    webhook_events: StreamPoller
    """WebhookEventsFunction, fed by the webhook events table's stream."""
    webhook_sweep: Handler
    """WebhookEventsFunction's handler, for its sweep."""
    invoices: StreamPoller
    """InvoicesFunction, fed by the documents table's stream."""

    def deliver(self, provider: str, delivery: Delivery) -> None:
        """A provider's delivery sent on to its webhook route, then acted on."""
        answer = self.api.anonymous.request(
            "POST",
            f"/webhooks/{provider}",
            raw=delivery.body.decode(),
            headers=delivery.provider_headers,
        )
        assert answer.status == 200, answer.body
        self.webhook_events.drain()


@pytest.fixture
def deployment(
    moto: MotoServer,
    localstripe: StandIn,
    paypal: StandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Deployment]:
    """Every function wired as in AWS (secrets by ARN, not credentials in the environment), only
    the providers' addresses pointed at the stand-ins; each handler's requests recorded."""
    created = create_resources(
        template(),
        dynamodb=moto.client("dynamodb"),
        sqs=moto.client("sqs"),
        sns=moto.client("sns"),
        sesv2=moto.client("sesv2"),
        s3=moto.client("s3"),
    )
    resources = replace(created, secrets=_secrets(moto, created))
    variables = functions_environment(template(), resources) | {
        "STRIPE_API_BASE": localstripe.url,
        "PAYPAL_API_BASE": paypal.url,
        "AWS_ENDPOINT_URL": moto.url,
        "DYNAMODB_ENDPOINT_URL": moto.url,
    }
    assert "STRIPE_API_KEY" not in variables
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    clock = Clock()
    monkeypatch.setattr(composition, "clock", clock)
    with (
        receiving() as receiver,
        stripe_endpoint(localstripe, receiver, STRIPE_WEBHOOK_SECRET),
        paypal_webhook(paypal, receiver) as webhook_id,
        recording_calls(on_switch=_forget_process_state) as recorder,
    ):
        monkeypatch.setenv("PAYPAL_WEBHOOK_ID", webhook_id)

        def load(handler: str) -> Any:
            return recorder.attributed(import_handler(handler))

        outbox = open_server_outbox(
            moto.url,
            parameter_value(template(), "EmailSender"),
            variables["SALES_TOPIC_ARN"],
            outbox_stream(moto.client, resources, load_handler=load).drain,
        )

        issuer = TokenIssuer(generate_secret(), clock=clock)
        gateway = LocalApiGateway(
            routes_from_template(template()), verifier=issuer.verify, clock=clock, load_handler=load
        )
        poller = poller_for(template(), WORKER, moto.client("sqs"), resources, load_handler=load)
        yield Deployment(
            api=Api(gateway, issuer, outbox, clock, localstripe),
            schedule=RenewalSchedule(poller, concurrency=1, load_handler=load),
            recorder=recorder,
            resources=resources,
            paypal=paypal,
            localstripe=localstripe,
            notify=load(_handler_of("NotifyFunction")),
            webhooks=receiver,
            webhook_sweep=load(_handler_of("WebhookEventsFunction")),
            webhook_events=stream_poller_for(
                template(),
                "WebhookEventsFunction",
                moto.client("dynamodbstreams"),
                resources,
                sqs=moto.client("sqs"),
                load_handler=load,
            ),
            invoices=stream_poller_for(
                template(),
                "InvoicesFunction",
                moto.client("dynamodbstreams"),
                resources,
                sqs=moto.client("sqs"),
                load_handler=load,
            ),
        )
    _forget_process_state()


def _handler_of(function: str) -> str:
    handler: str = resources_of_type("AWS::Serverless::Function")[function]["Properties"]["Handler"]
    return handler


def _sample(name: str, **tags: list[str]) -> dict[str, Any]:
    """A sample event of events/notify/, its SES event's mail tags replaced by `tags`."""
    event: dict[str, Any] = json.loads((EVENTS / name).read_text())
    if tags:
        sns = event["Records"][0]["Sns"]
        message = json.loads(sns["Message"])
        message["mail"]["tags"] = tags
        sns["Message"] = json.dumps(message)
    return event


def _forget_process_state() -> None:
    """What a Lambda process keeps between invocations: clients, gateways, cached secrets."""
    composition.install()
    parameters.clear_caches()  # type: ignore[no-untyped-call]


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status == status, response.body
    return response.json()


def _declining(api: Api, name: str) -> tuple[Client, str]:
    """A subscription bought with a working card, whose card declines from then on."""
    client, sub_id = api.subscribed(fresh_account_id(name))
    _ok(api.save_card(client, "pm_card_chargeCustomerFail"))
    return client, sub_id


def _every_route_and_renewal(deployment: Deployment) -> None:
    """Card and PayPal customers buy, renew, fail, retry, are charged by sales, update their
    card, cancel and resume, or run out of retries; partners open, extend or let lapse."""
    api, paypal, schedule = deployment.api, deployment.paypal, deployment.schedule
    card_account = fresh_account_id("iam-card")
    card = api.open_account(card_account)
    _ok(card.put("/account/billing-info", dict(EXAMPLE), key="billing-info"))
    _ok(api.save_card(card))
    _ok(card.get("/account/billing"))
    buyer = api.open_account(fresh_account_id("iam-paypal"))
    started = _ok(buyer.post("/account/payment-method/setup", {"method": "paypal"}, key="setup"))
    paypal.post(
        started["approval_url"].removeprefix(paypal.url),
        {"email": "payer@example.com", "funding": "ok"},
    )
    approved = {"provider": "paypal", "setup_token_id": started["reference"]}
    _ok(buyer.put("/account/payment-method", approved, key="approved"))
    _ok(api.anonymous.get("/plans"))
    card_sub = _ok(api.buy(card), 201)["id"]
    _ok(buyer.post("/subscriptions", PLAN, key="paypal-purchase"), 201)
    # A client that lost the answer sends the purchase again: the first answer, no charge.
    _ok(buyer.post("/subscriptions", PLAN, key="paypal-purchase"), 201)
    for path in ("", f"/{card_sub}", f"/{card_sub}/payments", f"/{card_sub}/events"):
        _ok(card.get(f"/subscriptions{path}"))

    partner = {"id": "reseller-7", "name": "Reseller Seven", "email": "desk@reseller7.example"}
    reseller = api.staff("partner", partner_id=partner["id"])
    partner_subs = []
    for name in ("iam-extended", "iam-lapsing"):
        account_id = fresh_account_id(name)
        api.open_account(account_id, partner=partner)
        opened = reseller.post(f"/admin/accounts/{account_id}/subscriptions", PLAN, key=name)
        partner_subs.append(_ok(opened, 201)["id"])
    _ok(reseller.post(f"/admin/subscriptions/{partner_subs[0]}/extend", key="extend"))

    # Cards that decline from the first renewal on: past due for the renewal run.
    _ok(api.save_card(card, "pm_card_chargeCustomerFail"))
    cancelling, cancelling_sub = _declining(api, "iam-cancelling")
    exhausted, exhausted_sub = _declining(api, "iam-exhausted")
    api.clock.now = api.clock.now.replace(month=2, day=28)
    schedule.run()
    assert _ok(card.get(f"/subscriptions/{card_sub}"))["status"] == "past_due"

    _ok(card.post(f"/subscriptions/{card_sub}/retry", key="retry"))
    _ok(api.staff("sales").get("/admin/retry-requests"))
    _ok(api.staff("sales").get(f"/admin/accounts/{card_account}/events"))
    api.clock.advance(days=1)
    _ok(api.staff("sales").post(f"/admin/subscriptions/{card_sub}/charge", key="charge"))
    # A working card pays what is due at once; auto-renewal off and on again.
    _ok(api.save_card(card))
    _ok(card.post(f"/subscriptions/{card_sub}/cancel", key="cancel"))
    _ok(card.post(f"/subscriptions/{card_sub}/resume", key="resume"))
    # Cancelling while past due ends the subscription at once.
    _ok(cancelling.post(f"/subscriptions/{cancelling_sub}/cancel", key="cancel"))

    # The scheduled retries run out; the partner subscription not extended lapses.
    for _ in range(10):
        state = _ok(exhausted.get(f"/subscriptions/{exhausted_sub}"))
        if state["status"] == "cancelled":
            break
        api.clock.now = datetime.fromisoformat(state["next_charge_at"])
        schedule.run()
    else:
        raise AssertionError("the scheduled retries never ran out")
    lapsed = composition.root().repository.get_subscription(partner_subs[1])
    assert lapsed.status.value == "cancelled"
    _webhooks_and_refunds(deployment, card_sub, buyer)
    _notified(deployment, card_account)


def _webhooks_and_refunds(deployment: Deployment, card_sub: str, paypal_buyer: Client) -> None:
    """Sales refunds part of a payment; the provider's webhook for it, and for a refund made in
    its dashboard, is received and acted on; a PayPal payer revokes the saved token; sales
    clears a dispute that is not there."""
    api, sales = deployment.api, deployment.api.staff("sales")
    card = api.customer(composition.root().repository.get_subscription(card_sub).account_id)
    [purchase] = [p for p in _ok(card.get(f"/subscriptions/{card_sub}/payments"))["items"]
                  if p["kind"] == "purchase"]  # fmt: skip
    refund_path = f"/admin/payments/{purchase['id']}/refund"
    _ok(sales.post(refund_path, {"amount": 500}, key="refund"))
    stripe.StripeClient(
        "sk_test_dashboard", base_addresses={"api": deployment.localstripe.url}
    ).v1.refunds.create(params={"payment_intent": purchase["provider_reference"], "amount": 400})
    for refunded in deployment.webhooks.wait_for(
        of_type("charge.refunded", payment_intent=purchase["provider_reference"]), count=2
    ):
        deployment.deliver("stripe", refunded)
    assert _ok(card.get(f"/subscriptions/{card_sub}/payments"))  # the refunds shown
    # The purchase's invoice downloaded before its stream record is acted on, then every
    # document issued so far archived from the documents table's stream.
    _ok(card.get(purchase["invoice"]["download"]))
    deployment.invoices.drain()
    expect_error(
        sales.post(f"/admin/subscriptions/{card_sub}/clear-dispute", key="clear"),
        409,
        "no_action_required",
    )
    account = composition.root().repository.get_account(
        _ok(paypal_buyer.get("/subscriptions"))["items"][0]["account_id"]
    )
    assert account.payment_method is not None
    token = account.payment_method.token
    deployment.paypal.post(f"/_standin/payment-tokens/{token}/revoke", {})
    deployment.deliver(
        "paypal",
        deployment.webhooks.wait_for(of_type("VAULT.PAYMENT-TOKEN.DELETED", id=token))[0],
    )
    assert composition.root().repository.get_account(account.id).payment_method is None
    swept = json.loads((TEMPLATE.parent / "events" / "webhooks" / "swept.json").read_text())
    context = LocalLambdaContext.for_function("WebhookEventsFunction")
    assert deployment.webhook_sweep(swept, context) == {"swept": {}}, "every event acted on"


def _confirmed_with_the_bank(deployment: Deployment) -> None:
    """A purchase the bank asks the customer to confirm (3-D Secure): 402, the page reads how
    to confirm it, the customer answers their bank, the page says it is done."""
    api = deployment.api
    customer = api.open_account(fresh_account_id("iam-3ds"))
    _ok(api.save_card(customer, "pm_card_authenticationRequired", authenticate=True))
    waiting = api.buy(customer)
    assert waiting.status == 402, waiting.body
    details = waiting.json()["error"]["details"]
    path = (
        f"/subscriptions/{details['subscription_id']}/payments/{details['payment_id']}"
        "/authentication"
    )
    page = _ok(customer.get(path))
    authenticate(deployment.localstripe, page["client_secret"])
    _ok(customer.post(f"{path}/complete", key="complete"))


def _notified(deployment: Deployment, account_id: str) -> None:
    """What was owed is sent from the outbox's stream; the sweep finds nothing left; SES tells
    of a bounce, recorded on the account it names."""
    api = deployment.api
    assert api.outbox.emails
    context = LocalLambdaContext.for_function("NotifyFunction")
    api.clock.advance(minutes=15)
    assert deployment.notify(_sample("swept.json"), context) == {"sent": {}, "deferred": 0}
    bounce = _sample("email_feedback.json", account_id=[account_id])
    assert deployment.notify(bounce, context) == {"feedback": {"Recorded": 1}}


@pytest.fixture
def used(deployment: Deployment) -> dict[str, set[Permission]]:
    """The permissions each function's requests needed over the whole scenario."""
    _every_route_and_renewal(deployment)
    _confirmed_with_the_bank(deployment)
    calls, arns = deployment.recorder.calls, Arns(deployment.resources)
    return {
        function: set().union(*(needed(call, arns) for call in calls.get(function, [])))
        for function in FUNCTIONS
    }


def _not_reached(function: str, resources: LocalResources) -> set[Permission]:
    """NOT_REACHED's permissions; a resource ``Bucket/*`` is every object of the bucket."""
    permissions = set()
    for owner, action, resource in NOT_REACHED:
        logical_id, _, objects = resource.partition("/")
        arn = resources.get_att(logical_id, "Arn") or str(resources.ref(logical_id))
        if owner == function:
            permissions.add((action, f"{arn}/{objects}" if objects else arn))
    return permissions


def _granted(
    function: str, resources: LocalResources, *, only_policies: str = ""
) -> set[Permission]:
    """What the function's inline policies grant; those whose name ends with `only_policies`."""
    return {
        permission
        for name, statements in role_of(function).statements.items()
        if name.endswith(only_policies)
        for statement in statements
        for permission in granted(statement, resources)
    }


def _by_lambda(function: str, resources: LocalResources) -> set[Permission]:
    """What SAM grants for Lambda's own use of the role: sending a failed asynchronous
    invocation, or a failed stream batch, to the on-failure destination (SAM names the latter
    after the event: ``<function>StreamSQSPolicy``). The function's code never sends them."""
    return _granted(function, resources, only_policies="OnFailureSQSPolicy") | _granted(
        function, resources, only_policies="StreamSQSPolicy"
    )


@pytest.mark.parametrize("function", FUNCTIONS)
def test_no_statement_grants_a_wildcard_action_a_scan_or_every_resource(function: str) -> None:
    for statements in role_of(function).statements.values():
        for statement in statements:
            actions = listed(statement["Action"])
            assert not [action for action in actions if "*" in action], statement
            assert "dynamodb:Scan" not in actions, statement
            assert statement["Resource"] != "*", statement


@pytest.mark.parametrize("function", FUNCTIONS)
def test_managed_policies_are_only_logs_tracing_and_the_pollers(function: str) -> None:
    properties = resources_of_type("AWS::Serverless::Function")[function]["Properties"]
    kinds = {event["Type"] for event in (properties.get("Events") or {}).values()}
    pollers = {"SQS": SQS_POLLING, "DynamoDB": STREAM_POLLING}

    expected = {BASIC_EXECUTION, TRACING} | {pollers[kind] for kind in kinds & set(pollers)}

    assert role_of(function).managed == expected


def test_every_request_is_allowed_and_every_permission_used(
    deployment: Deployment, used: dict[str, set[Permission]]
) -> None:
    denied, unused, stale = {}, {}, {}
    for function in FUNCTIONS:
        statements = _granted(function, deployment.resources)
        denied[function] = sorted(p for p in used[function] if not allows(statements, p))
        # A grant on a pattern (a bucket's objects, `bucket/*`) is used by any request it allows.
        needed_by = used[function]
        spare = {
            grant for grant in statements if not any(allows({grant}, p) for p in needed_by)
        } - _by_lambda(function, deployment.resources)
        explained = _not_reached(function, deployment.resources)
        unused[function] = sorted(spare - explained)
        stale[function] = sorted(explained - spare)

    assert all(used.values()), f"a function sent no request: {[f for f in used if not used[f]]}"
    assert denied == {function: [] for function in FUNCTIONS}, "requests the role would deny"
    assert unused == {function: [] for function in FUNCTIONS}, "permissions no request needed"
    assert stale == {function: [] for function in FUNCTIONS}, "NOT_REACHED entries to remove"
