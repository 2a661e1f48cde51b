"""The whole system on one machine (``make dev``): moto server, localstripe, the PayPal
stand-in and the VIES stand-in as child processes on loopback; the template's tables (with
their streams), queues, topics and SES configuration sets created in moto; every function of
template.yaml with the environment Lambda would give it, the API's in execution environment
processes (`devstack.environments`), the others in this one; the HTTP API on a loopback port;
the renewal schedule and its queue worker; the other event sources (DynamoDB streams, SNS
subscriptions, other schedules: `devstack.pollers`); one clock. The providers' webhooks are
registered with the stand-ins (`register_webhooks`), which then deliver to the API's webhook
routes as the providers do in AWS.

Nothing here defines a route, a table, a queue, a stream or a schedule: each is read from
template.yaml.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import boto3

from billing import composition
from billing.domain.billing_calendar import format_instant, parse_instant
from devstack import development
from devstack.api_gateway import Handler, LocalApiGateway, routes_from_template
from devstack.clock import StackClock, wall_clock
from devstack.environments import ExecutionEnvironments
from devstack.event_sources import (
    ScheduleEventSource,
    SqsEventSource,
    dynamodb_event_sources,
    poller_for,
    schedule_event_sources,
    sns_event_sources,
    sns_poller_for,
    sqs_event_sources,
    stream_poller_for,
)
from devstack.http_server import DOCS, OPENAPI, LocalApiServer
from devstack.metrics import FunctionOutput, MetricStore
from devstack.openapi import api_document
from devstack.outbox import NoticeTap, outbox_messages, sent_emails
from devstack.paypal_stand_in import CLIENT_ID, CLIENT_SECRET
from devstack.pollers import EventPollers
from devstack.portal import (
    LOCAL_PATH,
    LOCALSTRIPE_JS,
    LocalPage,
    PageConfig,
    development_sign_in,
    page_parameters,
)
from devstack.processes import (
    HOST,
    PortTaken,
    StartFailed,
    ensure_free,
    ignore_interrupts,
    stop,
    wait_until_listening,
)
from devstack.renewals import LocalRenewals
from devstack.resources import (
    LocalResources,
    create_resources,
    environment,
    parameter_value,
    provider_variables,
    references,
)
from devstack.template import TemplateError, load_template, resources_of_type
from devstack.tokens import TokenIssuer, generate_secret

logger = logging.getLogger("devstack")

REGION = "us-east-1"
ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
WORK_DIR = "DEV_WORK_DIR"
"""Where the running stack keeps its logs and shell variables; ``.devstack/`` by default."""


@dataclass(frozen=True)
class Port:
    variable: str
    default: int
    what: str


API = Port("DEV_API_PORT", 3000, "the HTTP API")
MOTO = Port("DEV_MOTO_PORT", 3001, "moto server: DynamoDB (and its streams), SQS, SES, SNS")
STRIPE = Port("DEV_STRIPE_PORT", 3002, "localstripe")
PAYPAL = Port("DEV_PAYPAL_PORT", 3003, "the PayPal stand-in")
VIES = Port("DEV_VIES_PORT", 3004, "the VIES stand-in")
PORTS = (API, MOTO, STRIPE, PAYPAL, VIES)
CLOCK_START = "DEV_CLOCK_START"
"""Where the clock starts (``2026-01-31T09:30:00Z``); the wall clock's time when unset."""
LAMBDA_CONCURRENCY = "DEV_LAMBDA_CONCURRENCY"
"""How many execution environments may answer API requests at once (10 by default)."""
DEFAULT_LAMBDA_CONCURRENCY = 10
MAX_LAMBDA_CONCURRENCY = 1000
"""Lambda's default account concurrency: a higher limit would only exhaust the machine."""
CLOCK_FILE = "clock"
"""The clock's instant in the work directory, which the children that stamp times read."""


@dataclass(frozen=True)
class Child:
    port: Port
    module: str
    reads_clock: bool
    """Whether it stamps times (and takes ``--clock-file``)."""


ENVIRONMENTS_LOG = "environments.log"
"""What the execution environments write outside the functions' output (a crash)."""
CHILDREN = (
    # Its stream records are stamped with the clock: their age is the stack's.
    Child(MOTO, "devstack.moto_server", reads_clock=True),
    Child(STRIPE, "devstack.localstripe_server", reads_clock=True),
    Child(PAYPAL, "devstack.paypal_stand_in", reads_clock=True),
    Child(VIES, "devstack.vies_stand_in", reads_clock=True),
)

ADMIN_ACCOUNT = "ops"
"""The staff user of the printed ADMIN_TOKEN: admin and sales."""
DEMO_ACCOUNT = "demo"
"""The customer account of the printed TOKEN (created by an admin in the walkthrough)."""


class StackError(Exception):
    """The stack cannot start; the message says why and what to do."""


# --- the providers' webhooks ---

STRIPE_WEBHOOK_PATH = "/webhooks/stripe"
PAYPAL_WEBHOOK_PATH = "/webhooks/paypal"
STRIPE_WEBHOOK_EVENTS = (
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
    "payment_method.updated",
    "payment_method.automatically_updated",
)
"""The events the Stripe endpoint is registered for, in AWS (docs/deploy.md) and locally:
localstripe filters what it delivers by this list as Stripe does."""
PAYPAL_WEBHOOK_EVENTS = (
    "PAYMENT.CAPTURE.COMPLETED",
    "PAYMENT.CAPTURE.DENIED",
    "PAYMENT.CAPTURE.PENDING",
    "PAYMENT.CAPTURE.REFUNDED",
    "PAYMENT.CAPTURE.REVERSED",
    "CUSTOMER.DISPUTE.CREATED",
    "CUSTOMER.DISPUTE.UPDATED",
    "CUSTOMER.DISPUTE.RESOLVED",
    "VAULT.PAYMENT-TOKEN.DELETED",
)
"""The events the PayPal webhook is registered for in AWS (docs/deploy.md). The stand-in is
registered for every event (``*``): it sends only those it implements."""
LOCALSTRIPE_WEBHOOK = "billing"
"""The name localstripe keeps the endpoint under (``POST /_config/webhooks/<name>``)."""
_WEBHOOK_ID = re.compile(r"^[A-Za-z0-9]{1,50}$")
"""What the template's ``PayPalWebhookId`` parameter accepts (PayPal's ``webhook_id``)."""
REGISTRATION_TIMEOUT = 10.0


@dataclass(frozen=True)
class WebhookEndpoints:
    """The webhook endpoints registered with the stand-ins, and what the functions need to
    check their deliveries."""

    stripe_url: str
    stripe_secret: str
    """The endpoint's signing secret (``whsec_…``), fresh for each run of the stack."""
    paypal_url: str
    paypal_webhook_id: str
    """The id the PayPal stand-in gave the endpoint."""

    def variables(self) -> dict[str, str]:
        """The functions' settings, set directly as `resources.provider_variables` are (in AWS
        the signing secret is read from Secrets Manager, the id is a template parameter)."""
        return {
            "STRIPE_WEBHOOK_SECRET": self.stripe_secret,
            "PAYPAL_WEBHOOK_ID": self.paypal_webhook_id,
        }


def generate_webhook_secret() -> str:
    """A signing secret shaped like Stripe's (``whsec_`` and random letters and digits)."""
    return "whsec_" + secrets.token_hex(16)


def register_webhooks(
    api_url: str,
    stripe_url: str,
    paypal_url: str,
    *,
    secret: str,
    timeout: float = REGISTRATION_TIMEOUT,
) -> WebhookEndpoints:
    """Register the API's webhook routes with localstripe (its own configuration route: it then
    signs each event with `secret` as Stripe does) and with the PayPal stand-in (PayPal's
    ``POST /v1/notifications/webhooks`` with an OAuth token of the stand-in's client), as an
    operator registers them with the providers after a deployment. `StackError` if either
    refuses."""
    stripe_endpoint = api_url + STRIPE_WEBHOOK_PATH
    paypal_endpoint = api_url + PAYPAL_WEBHOOK_PATH
    _send(
        "localstripe",
        f"{stripe_url}/_config/webhooks/{LOCALSTRIPE_WEBHOOK}",
        json.dumps(
            {"url": stripe_endpoint, "secret": secret, "events": list(STRIPE_WEBHOOK_EVENTS)}
        ).encode(),
        {"Content-Type": "application/json"},
        timeout,
    )
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    token = _send(
        "the PayPal stand-in",
        f"{paypal_url}/v1/oauth2/token",
        b"grant_type=client_credentials",
        {"Authorization": f"Basic {basic}", "Content-Type": "application/x-www-form-urlencoded"},
        timeout,
    )
    created = _send(
        "the PayPal stand-in",
        f"{paypal_url}/v1/notifications/webhooks",
        json.dumps({"url": paypal_endpoint, "event_types": [{"name": "*"}]}).encode(),
        {
            "Authorization": f"Bearer {_field(token, 'access_token')}",
            "Content-Type": "application/json",
        },
        timeout,
    )
    webhook_id = _field(created, "id")
    if not _WEBHOOK_ID.match(webhook_id):
        raise StackError(
            f"the PayPal stand-in gave the webhook the id {webhook_id!r}, which PayPal's "
            "verify-webhook-signature would refuse (letters and digits only)"
        )
    return WebhookEndpoints(stripe_endpoint, secret, paypal_endpoint, webhook_id)


def _send(
    server: str, url: str, body: bytes, headers: Mapping[str, str], timeout: float
) -> dict[str, Any]:
    """POST `body` to `url`; its JSON answer ({} when empty)."""
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
    except urllib.error.HTTPError as error:
        detail = error.read().decode(errors="replace")[:300]
        raise StackError(
            f"{server} refused the webhook registration: POST {url} answered {error.code} {detail}"
        ) from error
    except OSError as error:
        raise StackError(
            f"{server} did not answer the webhook registration ({url}): {error}"
        ) from error
    if not payload.strip():
        return {}
    try:
        answer = json.loads(payload)
    except ValueError as error:
        raise StackError(f"{server} answered POST {url} with something not JSON") from error
    if not isinstance(answer, dict):
        raise StackError(f"{server} answered POST {url} with {answer!r}, not a JSON object")
    return answer


def _field(answer: Mapping[str, Any], name: str) -> str:
    value = answer.get(name)
    if not isinstance(value, str) or not value:
        raise StackError(f"the PayPal stand-in's answer has no {name}: {dict(answer)!r}")
    return value


def ports(variables: Mapping[str, str]) -> dict[Port, int]:
    chosen = {}
    for port in PORTS:
        text = variables.get(port.variable, "").strip()
        if not text:
            chosen[port] = port.default
            continue
        if not text.isdigit() or not 1 <= int(text) <= 65535:
            raise StackError(f"{port.variable}={text!r} is not a port number (1-65535)")
        chosen[port] = int(text)
    taken = [number for number in chosen.values() if list(chosen.values()).count(number) > 1]
    if taken:
        raise StackError(f"port {taken[0]} is chosen twice: give every DEV_*_PORT its own port")
    return chosen


def lambda_concurrency(variables: Mapping[str, str]) -> int:
    text = variables.get(LAMBDA_CONCURRENCY, "").strip()
    if not text:
        return DEFAULT_LAMBDA_CONCURRENCY
    if not text.isdigit() or not 1 <= int(text) <= MAX_LAMBDA_CONCURRENCY:
        raise StackError(
            f"{LAMBDA_CONCURRENCY}={text!r} is not a number of execution environments "
            f"(1-{MAX_LAMBDA_CONCURRENCY})"
        )
    return int(text)


def clock_start(variables: Mapping[str, str]) -> datetime:
    text = variables.get(CLOCK_START, "").strip()
    if not text:
        return wall_clock()
    try:
        return parse_instant(text)
    except ValueError as error:
        raise StackError(
            f"{CLOCK_START}={text!r} is not an instant like 2026-01-31T09:30:00Z"
        ) from error


def _aws_environment(endpoint: str) -> dict[str, str]:
    """Every AWS client of this process pointed at moto server, with credentials that are
    no one's: nothing here can reach a real AWS account, whatever the shell has set."""
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "DYNAMODB_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


_AWS_UNSET = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def functions_environment(
    template: Mapping[str, Any],
    resources: LocalResources,
    parameters: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """What every function of the template reads, resolved against `resources` (and the
    template's `parameters`): one process serves them all, so two functions may not give one
    variable different values."""
    merged: dict[str, str] = {}
    owners: dict[str, str] = {}
    for function in resources_of_type(template, "AWS::Serverless::Function"):
        for name, value in environment(template, function, resources, parameters).items():
            if merged.setdefault(name, value) != value:
                raise TemplateError(
                    f"{name} is {merged[name]!r} for {owners[name]} but {value!r} for {function}: "
                    "the local stack runs every function in one process"
                )
            owners.setdefault(name, function)
    return merged


def code_paths(template: Mapping[str, Any], root: Path) -> list[str]:
    """Every function's ``CodeUri``, where Lambda would find its handler's package."""
    paths = []
    for logical_id, function in resources_of_type(template, "AWS::Serverless::Function").items():
        code_uri = (function.get("Properties") or {}).get("CodeUri")
        if not isinstance(code_uri, str):
            raise TemplateError(f"{logical_id}: the local stack needs a CodeUri folder")
        path = str((root / code_uri).resolve())
        if path not in paths:
            paths.append(path)
    return paths


def _user_pool_groups(template: Mapping[str, Any]) -> frozenset[str]:
    return frozenset(
        str(group["Properties"]["GroupName"])
        for group in resources_of_type(template, "AWS::Cognito::UserPoolGroup").values()
    )


@contextmanager
def children(chosen: Mapping[Port, int], work: Path) -> Iterator[list[subprocess.Popen[bytes]]]:
    """moto server and the provider stand-ins, started at once, each logging to .devstack/;
    those that stamp times read the stack's clock file. They ignore the terminal's Ctrl-C
    (`ignore_interrupts`) and are stopped when the block ends, after the rest of the stack."""
    with ExitStack() as started:
        processes = []
        for child in CHILDREN:
            log = started.enter_context((work / _log_name(child.module)).open("wb"))
            command = [sys.executable, "-m", child.module, "--host", HOST]
            command += ["--port", str(chosen[child.port])]
            if child.reads_clock:
                command += ["--clock-file", str(work / CLOCK_FILE)]
            process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=ignore_interrupts,  # noqa: PLW1509 - no thread runs yet
            )
            started.callback(stop, process)
            processes.append(process)
        for child, process in zip(CHILDREN, processes, strict=True):
            try:
                wait_until_listening(process, chosen[child.port])
            except StartFailed as error:
                raise StackError(
                    f"{child.port.what} did not start ({error}); "
                    f"see {work / _log_name(child.module)}"
                ) from error
        yield processes


def _log_name(module: str) -> str:
    return f"{module.rsplit('.', 1)[1]}.log"


@contextmanager
def _function_output(log: TextIO, metrics: MetricStore) -> Iterator[FunctionOutput]:
    """The stdout of the functions in this process (Powertools logs, EMF metrics) to `log` and
    `metrics`; loggers made before this point are re-pointed too. The execution environments'
    output is added to what this yields."""
    console = sys.stdout
    capture = FunctionOutput(log, metrics)
    handlers = [
        handler
        for candidate in logging.Logger.manager.loggerDict.values()
        if isinstance(candidate, logging.Logger)
        for handler in candidate.handlers
        if isinstance(handler, logging.StreamHandler) and handler.stream is console
    ]
    for handler in handlers:
        handler.setStream(capture)
    sys.stdout = capture
    try:
        yield capture
    finally:
        sys.stdout = console
        for handler in handlers:
            handler.setStream(console)


@dataclass(frozen=True)
class RunningStack:
    url: str
    clock: StackClock
    admin_token: str
    token: str
    chosen: Mapping[Port, int]
    work: Path
    webhooks: WebhookEndpoints

    def shell_variables(self) -> str:
        return (
            f"export API={self.url}\n"
            f"export ADMIN_TOKEN={self.admin_token}\n"
            f"export TOKEN={self.token}\n"
        )

    def banner(self) -> str:
        work = _shown(self.work)
        lines = [
            "",
            "Subscription billing, running locally (Ctrl-C stops everything)",
            "",
            f"  HTTP API         {self.url}   (every route of template.yaml)",
            f"  Billing page     {self.url}{LOCAL_PATH}/   (sign in as an account an admin opened)",
            f"  OpenAPI          {self.url}{OPENAPI}",
            f"  Swagger UI       {self.url}{DOCS}",
            f"  moto server      http://{HOST}:{self.chosen[MOTO]}   (DynamoDB, SQS, SES, SNS, S3)",
            f"  localstripe      http://{HOST}:{self.chosen[STRIPE]}",
            f"  PayPal stand-in  http://{HOST}:{self.chosen[PAYPAL]}",
            f"  VIES stand-in    http://{HOST}:{self.chosen[VIES]}   (rules: docs/local-stack.md)",
            f"  webhooks         {self.webhooks.stripe_url}   (registered with localstripe)",
            f"                   {self.webhooks.paypal_url}   (with the PayPal stand-in: "
            f"{self.webhooks.paypal_webhook_id})",
            f"  clock            {format_instant(self.clock())}   (moves only by POST /_dev/clock)",
            f"  logs             {work}/functions.log, {work}/<server>.log",
            "",
            f"Tokens (also in {work}/env: `source {work}/env` in another shell):",
            "",
            *("  " + line for line in self.shell_variables().splitlines()),
            "",
            f"  ADMIN_TOKEN is {ADMIN_ACCOUNT!r} in the admin and sales groups; TOKEN is the "
            f"customer of account {DEMO_ACCOUNT!r}.",
            '  Others: curl --json \'{"account_id": "..."}\' $API/_dev/token',
            "",
        ]
        return "\n".join(lines)


@contextmanager
def local_stack(variables: Mapping[str, str], say: Callable[[str], None]) -> Iterator[RunningStack]:
    """The stack, running until the block ends; everything it started is stopped after."""
    chosen = ports(variables)
    concurrency = lambda_concurrency(variables)
    for port, number in chosen.items():
        ensure_free(number, port.what, port.variable)
    template = load_template(TEMPLATE)
    work = Path(variables.get(WORK_DIR) or ROOT / ".devstack")
    work.mkdir(parents=True, exist_ok=True)
    clock = StackClock(clock_start(variables), file=work / CLOCK_FILE)
    metrics = MetricStore()
    moto = f"http://{HOST}:{chosen[MOTO]}"
    with ExitStack() as running:
        running.enter_context(children(chosen, work))
        running.enter_context(_environment(_aws_environment(moto)))
        clients = {
            name: boto3.client(name)
            for name in ("dynamodb", "dynamodbstreams", "sqs", "sns", "sesv2", "s3")
        }
        resources = create_resources(
            template,
            dynamodb=clients["dynamodb"],
            sqs=clients["sqs"],
            sns=clients["sns"],
            sesv2=clients["sesv2"],
            s3=clients["s3"],
        )
        clients["sesv2"].create_email_identity(
            EmailIdentity=parameter_value(template, "EmailIdentity")
        )
        url = f"http://{HOST}:{chosen[API]}"
        # Emails link to the local billing page, and PayPal sends customers back to it.
        os.environ.update(
            functions_environment(template, resources, page_parameters(url + LOCAL_PATH))
        )
        stripe_url, paypal_url = (
            f"http://{HOST}:{chosen[STRIPE]}",
            f"http://{HOST}:{chosen[PAYPAL]}",
        )
        os.environ.update(provider_variables(stripe_url, paypal_url))
        os.environ["VIES_API_BASE"] = f"http://{HOST}:{chosen[VIES]}"
        page = LocalPage(
            PageConfig(
                api_url=url,
                stripe_js_url=stripe_url + LOCALSTRIPE_JS,
                stripe_publishable_key=parameter_value(template, "StripePublishableKey"),
                sign_in=development_sign_in(url),
            )
        )
        # Before any function starts: the API's routes answer the deliveries once it listens.
        webhooks = register_webhooks(url, stripe_url, paypal_url, secret=generate_webhook_secret())
        os.environ.update(webhooks.variables())
        tap = NoticeTap(
            clients["sns"], clients["sqs"], os.environ["SALES_TOPIC_ARN"], "devstack-sales-outbox"
        )
        packages = code_paths(template, ROOT)
        log = running.enter_context((work / "functions.log").open("w", encoding="utf-8"))
        output = running.enter_context(_function_output(log, metrics))
        running.enter_context(_runtime_clock(clock))
        environments = ExecutionEnvironments(
            limit=concurrency,
            variables={**os.environ, "PYTHONPATH": _python_path(packages)},
            clock_file=work / CLOCK_FILE,
            log=output,
            output=running.enter_context((work / ENVIRONMENTS_LOG).open("ab")),
        )
        running.callback(environments.close)
        renewals = _renewals(template, clients["sqs"], resources, metrics, clock)
        pollers = _pollers(template, clients, resources, clock, renewals.schedule)
        issuer = TokenIssuer(generate_secret(), clock=clock)
        outbox_table = os.environ.get("OUTBOX_TABLE")
        routes = development.Development(
            clock=clock,
            issuer=issuer,
            groups=_user_pool_groups(template),
            run_renewals=renewals.run,
            emails=lambda: sent_emails(moto),
            notices=tap.notices,
            messages=lambda: (
                outbox_messages(clients["dynamodb"], outbox_table) if outbox_table else []
            ),
            settle=pollers.settle,
        )
        running.enter_context(_api(template, routes, environments, chosen[API], say, page=page))
        running.enter_context(_schedule(renewals))
        running.enter_context(_serving(pollers))
        stack = RunningStack(
            url=url,
            clock=clock,
            admin_token=issuer.issue(ADMIN_ACCOUNT, ["admin", "sales"], ttl=development.TOKEN_TTL),
            token=issuer.issue(DEMO_ACCOUNT, ttl=development.TOKEN_TTL),
            chosen=chosen,
            work=work,
            webhooks=webhooks,
        )
        (work / "env").write_text(stack.shell_variables(), encoding="utf-8")
        yield stack


@contextmanager
def _environment(aws: Mapping[str, str]) -> Iterator[None]:
    """`aws` (and then what the block adds) in ``os.environ`` until the block ends; the
    shell's AWS profile and session never reach a client of this process."""
    saved = dict(os.environ)
    for name in _AWS_UNSET:
        os.environ.pop(name, None)
    os.environ.update(aws)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def _runtime_clock(clock: StackClock) -> Iterator[None]:
    """Every function's clock (``billing.composition.clock``) is the stack's."""
    saved = composition.clock
    composition.clock = clock
    composition.install()
    try:
        yield
    finally:
        composition.clock = saved


def _python_path(packages: Sequence[str]) -> str:
    """The handlers' packages first, as Lambda puts the function's code first, then what this
    process was given."""
    given = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]
    return os.pathsep.join([*packages, *given])


@contextmanager
def _api(
    template: Mapping[str, Any],
    routes: development.Development,
    environments: ExecutionEnvironments,
    port: int,
    say: Callable[[str], None],
    *,
    page: LocalPage,
) -> Iterator[None]:
    """The template's routes, invoked in the execution environments, and the development
    routes, in this process one at a time (their resolver holds the current request), served
    on `port` with the billing `page` until the block ends."""
    dev_handler = _one_at_a_time(development.handler(routes))

    def load(name: str) -> Handler:
        return dev_handler if name == development.HANDLER else environments.handler(name)

    gateway = LocalApiGateway(
        [*routes_from_template(template), *development.routes()],
        verifier=routes.issuer.verify,
        load_handler=load,
        clock=routes.clock,
    )
    url = f"http://{HOST}:{port}"
    document = cache(lambda: api_document(template, extra=[development.router(routes)], server=url))
    try:
        server = LocalApiServer(port, gateway, document, access_log=say, page=page)
    except OSError as error:
        raise StackError(f"the HTTP API cannot listen on {url}: {error}") from error
    serving = threading.Thread(target=server.serve_forever, name="http-api", daemon=True)
    serving.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def _schedule(renewals: LocalRenewals) -> Iterator[None]:
    """The renewal schedule and its worker, in a thread, until the block ends (and the run
    under way, if any, is over)."""
    stopping = threading.Event()
    schedule = threading.Thread(
        target=renewals.serve, args=(stopping,), name="renewal-schedule", daemon=True
    )
    schedule.start()
    try:
        yield
    finally:
        stopping.set()
        schedule.join(60)


@contextmanager
def _serving(pollers: EventPollers) -> Iterator[None]:
    """The other event sources (streams, SNS subscriptions, schedules), in a thread, until the
    block ends."""
    stopping = threading.Event()
    serving = threading.Thread(
        target=pollers.serve, args=(stopping,), name="event-sources", daemon=True
    )
    serving.start()
    try:
        yield
    finally:
        stopping.set()
        serving.join(60)


def _shown(path: Path) -> str:
    """`path` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _one_at_a_time(handler: Handler) -> Handler:
    lock = threading.Lock()

    def serialized(event: dict[str, Any], context: Any) -> Any:
        with lock:
            return handler(event, context)

    return serialized


def _renewals(
    template: Mapping[str, Any],
    sqs: Any,
    resources: LocalResources,
    metrics: MetricStore,
    clock: StackClock,
) -> LocalRenewals:
    queues = sqs_event_sources(template)
    if len(queues) != 1:
        raise TemplateError(
            "the local stack runs one queue worker (the renewal run's); "
            f"the template has {len(queues)}"
        )
    schedule = renewal_schedule(template, queues[0])
    # retry_delay None: a failed message comes back after the queue's visibility timeout.
    poller = poller_for(template, queues[0].function, sqs, resources, retry_delay=None)
    return LocalRenewals(schedule, poller, metrics, clock=clock, region=REGION)


def renewal_schedule(
    template: Mapping[str, Any],
    worker: SqsEventSource,
    parameters: Mapping[str, str] | None = None,
) -> ScheduleEventSource:
    """The renewal run's schedule: the one schedule of a function that sends to the worker's
    queue (its environment refers to the queue)."""
    functions = resources_of_type(template, "AWS::Serverless::Function")
    found = [
        schedule
        for schedule in schedule_event_sources(template, parameters)
        if worker.queue
        in references((functions[schedule.function].get("Properties") or {}).get("Environment"))
    ]
    if len(found) != 1:
        raise TemplateError(
            f"the local stack runs one schedule that feeds {worker.queue} (the renewal run); "
            f"the template has {len(found)}"
        )
    return found[0]


def _pollers(
    template: Mapping[str, Any],
    clients: Mapping[str, Any],
    resources: LocalResources,
    clock: StackClock,
    renewals: ScheduleEventSource,
) -> EventPollers:
    """Every DynamoDB stream and SNS event of the template, and every schedule but the renewal
    run's, with their handlers imported in this process (as the renewal run's are)."""
    streams = [
        stream_poller_for(
            template, source.function, clients["dynamodbstreams"], resources,
            sqs=clients["sqs"], clock=clock,
        )
        for source in dynamodb_event_sources(template)
    ]  # fmt: skip
    subscriptions = [
        sns_poller_for(
            template, source.function, clients["sns"], clients["sqs"], resources, clock=clock
        )
        for source in sns_event_sources(template)
    ]
    schedules = [s for s in schedule_event_sources(template) if s != renewals]
    return EventPollers(streams, subscriptions, schedules, clock=clock, region=REGION)


def main() -> int:
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    logger.setLevel(logging.INFO)
    console = sys.stdout

    def say(line: str) -> None:
        console.write(line + "\n")
        console.flush()

    stopping = threading.Event()

    def stop_on(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, stop_on)
    signal.signal(signal.SIGTERM, stop_on)
    try:
        with local_stack(os.environ, say) as stack:
            say(stack.banner())
            while not stopping.wait(0.5):
                pass
            say(
                "Stopping: the API, the renewal schedule, the event sources, moto server and the "
                "stand-ins …"
            )
    except (StackError, PortTaken, TemplateError) as error:
        sys.stderr.write(f"make dev: {error}\n")
        return 1
    say("Stopped.")
    return 0
