"""Concurrent DynamoDB transactions against moto server as the local stack runs it: each commits
or is cancelled whole, as in DynamoDB.

moto's own threaded server (moto 5.2.5) fails this: a cancelled transaction's writes stay, a
committed one's vanish when another transaction rolls its table back, and a table copied while
another request writes to it answers 500 (docs/local-stack.md, "Why moto server is patched")."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.support.moto_server import REGION, MotoServer

CLAIMANTS = 8
ROUNDS = 10
OTHER_ITEMS = 300
"""Items already in the table: moto copies the whole table before each transaction, and the
longer that takes, the likelier another request writes meanwhile."""


def _table(moto: MotoServer) -> Any:
    client = boto3.client(
        "dynamodb",
        region_name=REGION,
        endpoint_url=moto.url,
        # A 500 must be seen, not retried away; one connection per claimant.
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=CLAIMANTS),
    )
    client.create_table(
        TableName="claims",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for first in range(0, OTHER_ITEMS, 25):
        client.batch_write_item(
            RequestItems={
                "claims": [
                    {"PutRequest": {"Item": {"pk": {"S": f"other{n}"}, "note": {"S": "x" * 200}}}}
                    for n in range(first, first + 25)
                ]
            }
        )
    return client


def _claim(client: Any, slot: str, claimant: int) -> str:
    """A purchase's shape: take the slot on condition it is free, and count the claim."""
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": "claims",
                        "Item": {"pk": {"S": slot}, "by": {"N": str(claimant)}},
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": "claims",
                        "Key": {"pk": {"S": f"{slot}#claims"}},
                        "UpdateExpression": "ADD claims :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "committed"


def test_concurrent_transactions_on_one_item_commit_once_and_cancel_whole(
    moto: MotoServer,
) -> None:
    client = _table(moto)
    for round_ in range(ROUNDS):
        slot = f"slot{round_}"
        with ThreadPoolExecutor(CLAIMANTS) as pool:
            outcomes = list(pool.map(partial(_claim, client, slot), range(CLAIMANTS)))

        assert sorted(outcomes) == ["TransactionCanceledException"] * (CLAIMANTS - 1) + [
            "committed"
        ]
        counted = client.get_item(
            TableName="claims", Key={"pk": {"S": f"{slot}#claims"}}, ConsistentRead=True
        ).get("Item", {})
        # Once: the cancelled transactions' updates are undone, the committed one's kept.
        assert counted.get("claims") == {"N": "1"}
    items = client.scan(TableName="claims", Select="COUNT")["Count"]
    assert items == OTHER_ITEMS + 2 * ROUNDS
