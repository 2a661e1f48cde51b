"""Archives each invoice and credit note as PDF as soon as it is issued. Invoked by the documents
table's stream (`InvoicesFunction`): a batch of the items the persistence wrote when it issued
them (`billing.operations.invoices.issued_document` reads one), the head of each entity's
numbering skipped.

A document that cannot be archived now (S3 failed after the SDK's retries) is reported as the
batch's failure and ends the batch, so that Lambda retries from it: archiving is idempotent (a
PDF already there is kept as it is), so the records after it are archived then or found there.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import (
    DynamoDBRecordEventName,
    DynamoDBStreamEvent,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import root
from billing.observability import logger, publish
from billing.operations.invoices import issued_document
from billing.persistence.repository import StorageUnavailable

if TYPE_CHECKING:
    # Its package loads asyncio: named for the type checker only, as in the notify function.
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse

root().start(charges=False)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return dict(_archive(DynamoDBStreamEvent(event)))


def _archive(event: DynamoDBStreamEvent) -> PartialItemFailureResponse:
    archiving = root().archiving
    archived: Counter[str] = Counter()
    failures: PartialItemFailureResponse = {"batchItemFailures": []}
    for record in event.records:
        if record.event_name is not DynamoDBRecordEventName.INSERT or record.dynamodb is None:
            continue
        document = issued_document(record.dynamodb.raw_event.get("NewImage") or {})
        if document is None:
            continue
        try:
            archived["archived" if archiving.archive(document) else "already"] += 1
        except StorageUnavailable as error:
            logger.warning(
                "document not archived", extra={"number": document.number, "error": str(error)}
            )
            failures["batchItemFailures"].append(
                {"itemIdentifier": record.dynamodb.sequence_number or ""}
            )
            break
    for outcome, count in archived.items():
        publish("DocumentsArchived", count, outcome=outcome)
    return failures
