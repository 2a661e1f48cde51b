"""Purchases for one account made at the same time in separate processes, as separate Lambda
instances make them, each with its own Idempotency-Key: one is charged and opens the
subscription, the others are refused before anything is charged."""

from __future__ import annotations

import json
import multiprocessing
import os
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from threading import Barrier

import pytest
from pytest_socket import socket_allow_hosts

from billing import composition
from billing.domain.billing_calendar import format_instant, parse_instant
from billing.domain.charges import ChargeStatus
from devstack.api_gateway import LocalApiGateway, routes_from_template
from devstack.tokens import TokenIssuer, generate_secret
from tests.integration.renewals.conftest import Stack
from tests.support.api import Api, fresh_account_id
from tests.support.aws import template
from tests.support.localstripe import payment_intents
from tests.support.stand_ins import StandIn

BUYERS = 5

_start: Barrier | None = None
"""Where every buyer waits for the others before sending its request."""


def _meet_at(start: Barrier) -> None:
    """A process's start: synchronisation objects reach a process when it is created only."""
    global _start  # noqa: PLW0603 - one per process, set as it starts
    _start = start


def _buy(environment: Mapping[str, str], account_id: str, key: str, now: str) -> tuple[int, str]:
    """One Lambda instance's purchase request: its own process, clients and caches; the
    answer's status and error code (or the subscription id)."""
    os.environ.update(environment)
    instant = parse_instant(now)

    def clock() -> datetime:
        return instant

    composition.clock = clock
    issuer = TokenIssuer(generate_secret(), clock=clock)
    gateway = LocalApiGateway(routes_from_template(template()), verifier=issuer.verify, clock=clock)
    headers = {
        "Authorization": f"Bearer {issuer.issue(account_id)}",
        "Idempotency-Key": key,
        "Content-Type": "application/json",
    }
    body = json.dumps({"plan_id": "basic", "cycle_months": 1, "currency": "EUR"})
    assert _start is not None
    _start.wait(timeout=60)
    response = gateway.invoke("POST", "/subscriptions", headers=headers, body=body)
    answer = response.json()
    return response.status, answer["error"]["code"] if "error" in answer else answer["id"]


def test_concurrent_purchases_in_separate_processes_charge_once(
    api: Api, stack: Stack, localstripe: StandIn, pytestconfig: pytest.Config
) -> None:
    account_id = fresh_account_id("racing-buyers")
    client = api.open_account(account_id)
    assert api.save_card(client).status == 200
    customer = composition.root().repository.get_account(account_id).stripe_customer_id
    assert customer is not None
    # Each charge stays at Stripe a moment, so that every request reads the account while the
    # others are still charging: the window in which a read-then-charge check lets all through.
    localstripe.inject("POST", "/v1/payment_intents", delay=0.5, times=BUYERS)

    # Fresh processes, not forks of this one (its threads, clients and caches): each buyer a
    # fork of a server process that imported this module once, rather than an interpreter of
    # its own importing everything again (spawn: about 2 s of CPU each). The server is reached
    # on a Unix socket, which this test alone is allowed (the tier's only network is loopback).
    socket_allow_hosts(pytestconfig.getoption("--allow-hosts"), allow_unix_socket=True)
    processes = multiprocessing.get_context("forkserver")
    processes.set_forkserver_preload([__name__])
    start = processes.Barrier(BUYERS)
    with ProcessPoolExecutor(
        BUYERS, mp_context=processes, initializer=_meet_at, initargs=(start,)
    ) as pool:
        answers = list(
            pool.map(
                _buy,
                [stack.environment] * BUYERS,
                [account_id] * BUYERS,
                [f"buy-{n}{api.key_suffix}" for n in range(BUYERS)],
                [format_instant(api.clock.now)] * BUYERS,
            )
        )

    [(_, opened)] = [answer for answer in answers if answer[0] == 201]
    assert answers.count((409, "subscription_exists")) == BUYERS - 1, answers
    assert len(payment_intents(localstripe, customer)) == 1, "the card was charged once"
    account = composition.root().repository.get_account(account_id)
    assert (account.open_subscription_id, account.pending_purchase) == (opened, None)
    [attempt] = composition.root().repository.charge_attempts(opened)
    assert attempt.status is ChargeStatus.SUCCEEDED
    history = client.get("/subscriptions").json()["items"]
    assert [sub["id"] for sub in history] == [opened]
