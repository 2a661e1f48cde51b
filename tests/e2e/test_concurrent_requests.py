"""The local API answers concurrent requests at once, each in an execution environment of its
own, as concurrent Lambda instances do: purchases whose charges localstripe holds are all in
flight together, which one request at a time could never be."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.devstack import RunningStack, eventually

ORDER = {"plan_id": "basic", "cycle_months": 1, "currency": "EUR"}
CONCURRENT = 3


def test_concurrent_purchases_are_in_flight_together(stack: RunningStack) -> None:
    customers = [stack.customer("concurrent") for _ in range(CONCURRENT)]
    accounts = {customer.account_id for customer in customers}

    def all_held() -> bool:
        faults = stack.localstripe.faults()
        return all(f["times"] == 0 for f in faults if f["body_contains"] in accounts)

    try:
        for customer in customers:
            stack.localstripe.inject(
                "POST", "/v1/payment_intents", hold=True, body_contains=customer.account_id
            )
        with ThreadPoolExecutor(CONCURRENT) as pool:
            purchases = [
                pool.submit(stack.call, "POST", "/subscriptions", ORDER, token=c.token, key="buy")
                for c in customers
            ]
            eventually(all_held, "every purchase's charge held at localstripe at once")
            assert not any(purchase.done() for purchase in purchases), "none can be answered yet"
            stack.localstripe.release()
            answers = [purchase.result() for purchase in purchases]
    finally:
        stack.localstripe.reset()

    assert [answer.status for answer in answers] == [201] * CONCURRENT, answers
