"""What the renewal and API benchmarks run against, as the integration tests do: moto server,
localstripe and the PayPal stand-in on loopback, every resource of template.yaml created in moto,
the functions' environment as Lambda would set it, and one clock for every handler; and the CPU
time each server uses."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from billing import composition
from devstack.event_sources import SqsPoller, StreamPoller, poller_for, stream_poller_for
from devstack.resources import LocalResources, create_resources, parameter_value
from devstack.stack import functions_environment
from devstack.template import load_template
from tests.support.api import Clock
from tests.support.moto_server import MotoServer, moto_server
from tests.support.renewals import WORKER, RenewalSchedule
from tests.support.stand_ins import StandIn, provider_environment, running

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = load_template(ROOT / "template.yaml")


_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(url: str) -> float:
    """CPU time (user and system) used so far by the server this process started at `url`: the
    child whose command line names its port (Linux's /proc)."""
    port = url.rpartition(":")[2]
    me = Path(f"/proc/{os.getpid()}")
    for pid in (p for task in me.glob("task/*") for p in (task / "children").read_text().split()):
        if f"--port\0{port}\0" in (Path("/proc") / pid / "cmdline").read_text() + "\0":
            fields = (Path("/proc") / pid / "stat").read_text().rpartition(")")[2].split()
            return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS
    raise LookupError(f"no child process serves {url}")


@dataclass(frozen=True)
class BenchStack:
    moto: MotoServer
    localstripe: StandIn
    resources: LocalResources
    clock: Clock

    def schedule(self, poller: SqsPoller | None = None) -> RenewalSchedule:
        return RenewalSchedule(poller or self.poller())

    def poller(self, **options: Any) -> SqsPoller:
        return poller_for(TEMPLATE, WORKER, self.moto.client("sqs"), self.resources, **options)

    def notify_stream(self) -> StreamPoller:
        """NotifyFunction on the outbox table's stream, as Lambda's event source mapping runs
        it: draining it sends what the renewals owe."""
        return stream_poller_for(
            TEMPLATE,
            "NotifyFunction",
            self.moto.client("dynamodbstreams"),
            self.resources,
            sqs=self.moto.client("sqs"),
        )

    def table(self, logical_id: str) -> str:
        return self.resources.tables[logical_id].name

    @contextmanager
    def charging(self, stripe: StandIn) -> Iterator[None]:
        """The functions' charges sent to `stripe` (the composition root made again) until the
        block ends."""
        with mock.patch.dict(os.environ, {"STRIPE_API_BASE": stripe.url}):
            composition.install()
            try:
                yield
            finally:
                composition.install()

    def provider_calls(self) -> int:
        """Requests to Stripe's API localstripe received since its last reset."""
        seen = self.localstripe.get("/_config/requests")
        return sum(1 for request in seen if request["path"].startswith("/v1/"))


@contextmanager
def answering_stripe() -> Iterator[StandIn]:
    """A Stripe that only answers (`bench.instant_provider`), until the block ends."""
    with running("bench.instant_provider", "/") as stripe:
        yield stripe


@contextmanager
def bench_stack() -> Iterator[BenchStack]:
    """Everything started, the environment set and the runtime's clock the stack's, until the
    block ends."""
    with ExitStack() as started:
        moto = started.enter_context(moto_server())
        localstripe = started.enter_context(running("devstack.localstripe_server", "/_config"))
        paypal = started.enter_context(running("devstack.paypal_stand_in", "/_standin"))
        started.enter_context(
            mock.patch.dict(
                os.environ,
                {
                    "AWS_ENDPOINT_URL": moto.url,
                    "DYNAMODB_ENDPOINT_URL": moto.url,
                    "AWS_ACCESS_KEY_ID": "bench",
                    "AWS_SECRET_ACCESS_KEY": "bench",
                    "AWS_DEFAULT_REGION": "us-east-1",
                    **provider_environment(localstripe, paypal),
                },
            )
        )
        resources = create_resources(
            TEMPLATE,
            dynamodb=moto.client("dynamodb"),
            sqs=moto.client("sqs"),
            sns=moto.client("sns"),
            sesv2=moto.client("sesv2"),
            s3=moto.client("s3"),
        )
        moto.client("sesv2").create_email_identity(
            EmailIdentity=parameter_value(TEMPLATE, "EmailIdentity")
        )
        os.environ.update(functions_environment(TEMPLATE, resources))
        clock = Clock()
        started.enter_context(mock.patch.object(composition, "clock", clock))
        composition.install()
        started.callback(composition.install)
        yield BenchStack(moto, localstripe, resources, clock)
