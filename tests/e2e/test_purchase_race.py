"""Purchases for one account sent at the same time to the running local stack, each with its own
Idempotency-Key and served in an execution environment of its own, as separate Lambda instances
serve them: the card is charged once, and every other request is refused having charged
nothing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.devstack import RunningStack, eventually

ORDER = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}
BUYERS = 4


def test_concurrent_purchases_over_http_charge_the_card_once(stack: RunningStack) -> None:
    customer = stack.customer("http-race")

    def charges_held() -> int:
        [fault] = [
            f for f in stack.localstripe.faults() if f["body_contains"] == customer.account_id
        ]
        return BUYERS - int(fault["times"])

    try:
        # Every charge that reaches localstripe waits there, so that no purchase can finish
        # (and open the subscription) before the others have decided whether to charge.
        stack.localstripe.inject(
            "POST", "/v1/payment_intents", hold=True, body_contains=customer.account_id,
            times=BUYERS,
        )  # fmt: skip
        with ThreadPoolExecutor(BUYERS) as pool:
            purchases = [
                pool.submit(
                    stack.call, "POST", "/subscriptions", ORDER, token=customer.token, key=f"b{n}"
                )
                for n in range(BUYERS)
            ]
            eventually(
                lambda: charges_held() + sum(p.done() for p in purchases) == BUYERS,
                "every purchase refused or its charge held at localstripe",
            )
            charged = charges_held()
            stack.localstripe.release()
            answers = [purchase.result() for purchase in purchases]
    finally:
        stack.localstripe.reset()

    assert charged == 1, "one charge reached the provider"
    assert sorted(answer.status for answer in answers) == [201] + [409] * (BUYERS - 1), answers
    refused = [answer.body["error"]["code"] for answer in answers if answer.status == 409]
    assert set(refused) == {"subscription_exists"}
    [opened] = [answer.body for answer in answers if answer.status == 201]
    history = stack.call("GET", "/subscriptions", token=customer.token)
    assert [sub["id"] for sub in history.body["items"]] == [opened["id"]]
