"""The archiving of each document as it is issued: the documents table's stream, as Lambda hands
it to the invoices function, read from DynamoDB (moto, in-process) where the documents are
written as the persistence writes them (`to_item`, beside the head of the entity's numbering),
and the PDFs archived in S3 (moto). Every new document archived once, the head skipped, a
failure reported from the first document not archived.

The table is the documents table as the persistence defines it (its key: the entity, then the
number; a stream of new images); the template's, once there, replaces the definition here."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from billing import composition
from billing.domain.invoices import Document
from billing.invoices.archive import S3DocumentArchive
from billing.invoices.pdf import render
from billing.persistence.items import to_item
from billing.settings import InvoiceSettings
from devstack.api_gateway import LocalLambdaContext, import_handler
from devstack.event_sources import stream_record
from devstack.resources import create_buckets
from tests.support.aws import template
from tests.support.documents import credit_note, invoice
from tests.support.notifications import in_process_client

pytestmark = pytest.mark.integration

REGION = "us-east-1"
HANDLER = "invoices.handler.lambda_handler"
TABLE = "documents"
ENTITY = "fr-main"


class Documents:
    """The documents table and its stream, the invoices bucket, and what the function answered."""

    def __init__(self, bucket: str) -> None:
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.bucket = bucket
        created = self.dynamodb.create_table(
            TableName=TABLE,
            AttributeDefinitions=[
                {"AttributeName": "entity", "AttributeType": "S"},
                {"AttributeName": "number", "AttributeType": "N"},
            ],
            KeySchema=[
                {"AttributeName": "entity", "KeyType": "HASH"},
                {"AttributeName": "number", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_IMAGE"},
        )
        self.stream_arn = created["TableDescription"]["LatestStreamArn"]
        self.handler = import_handler(HANDLER)

    def issue(self, *documents: Document) -> None:
        """Write `documents` and move the head on, as a settlement's transaction does."""
        for document in documents:
            item = {**to_item(document), "entity": {"S": ENTITY}}
            self.dynamodb.put_item(TableName=TABLE, Item=item)
        last = {"N": str(documents[-1].number)}
        head = {"entity": {"S": ENTITY}, "number": {"N": "0"}, "last": last}
        self.dynamodb.put_item(TableName=TABLE, Item=head)

    def batch(self) -> dict[str, Any]:
        """Every record of the stream so far, as Lambda's event."""
        streams = in_process_client("dynamodbstreams")
        [shard] = streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        iterator = streams.get_shard_iterator(
            StreamArn=self.stream_arn,
            ShardId=shard["ShardId"],
            ShardIteratorType="TRIM_HORIZON",
        )["ShardIterator"]
        records = streams.get_records(ShardIterator=iterator)["Records"]
        return {"Records": [stream_record(record, self.stream_arn) for record in records]}

    def deliver(self, batch: dict[str, Any]) -> Any:
        return self.handler(batch, LocalLambdaContext.for_function("InvoicesFunction"))

    def archived(self) -> dict[str, bytes]:
        versions = self.s3.list_object_versions(Bucket=self.bucket).get("Versions", [])
        return {
            v["Key"]: self.s3.get_object(Bucket=self.bucket, Key=v["Key"])["Body"].read()
            for v in versions
        } | {"versions": bytes(len(versions))}


@pytest.fixture
def documents(monkeypatch: pytest.MonkeyPatch) -> Iterator[Documents]:
    with mock_aws():
        bucket = create_buckets(template(), boto3.client("s3", region_name=REGION))
        name = bucket["InvoicesBucket"].name
        monkeypatch.setenv("INVOICES_BUCKET", name)
        composition.install()
        yield Documents(name)
    composition.install()


def test_each_new_document_is_archived_as_its_pdf_and_the_head_skipped(
    documents: Documents,
) -> None:
    first, second = invoice(42), credit_note(43, corrects=42)
    documents.issue(first)
    documents.issue(second)

    answer = documents.deliver(documents.batch())

    assert answer == {"batchItemFailures": []}
    assert documents.archived() == {
        "fr-main/00000042.pdf": render(first),
        "fr-main/00000043.pdf": render(second),
        "versions": bytes(2),
    }


def test_a_batch_delivered_again_archives_nothing_twice(documents: Documents) -> None:
    documents.issue(invoice(42), credit_note(43, corrects=42))
    batch = documents.batch()
    documents.deliver(batch)

    answer = documents.deliver(batch)

    assert answer == {"batchItemFailures": []}
    assert documents.archived()["versions"] == bytes(2)


def test_a_document_not_archived_is_reported_and_ends_the_batch(
    documents: Documents, monkeypatch: pytest.MonkeyPatch
) -> None:
    documents.issue(invoice(42), invoice(43))
    batch = documents.batch()
    missing = S3DocumentArchive(InvoiceSettings.from_environment({"INVOICES_BUCKET": "no-such"}))
    composition.install(composition.Root(invoice_archive=missing))

    answer = documents.deliver(batch)

    first = batch["Records"][0]["dynamodb"]["SequenceNumber"]
    assert answer == {"batchItemFailures": [{"itemIdentifier": first}]}
    assert documents.archived() == {"versions": b""}
