"""The renewal worker: carries out one SQS batch of renewal messages, concurrently so that the
function is not idle while a provider answers, and reports the messages that failed (Powertools
Batch partial responses) so that only those are delivered again."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    AsyncBatchProcessor,
    EventType,
    async_process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import root
from billing.observability import logger, publish
from billing.renewal_worker import Outcome, RenewalResult, RenewalTally, RenewalWorker
from billing.renewals import BATCH, parse_message

root().start(charges=True)
_charges = ThreadPoolExecutor(max_workers=BATCH, thread_name_prefix="renewal")
"""One thread per message of a batch: charges wait on the provider, not on the CPU."""


def _carry_out(worker: RenewalWorker, record: SQSRecord) -> RenewalResult:
    message = parse_message(record.body)
    logger.thread_safe_append_keys(
        message_id=record.message_id,
        subscription_id=message.subscription_id,
        correlation_id=message.run or None,
    )
    try:
        result = worker.handle(message)
        logger.info(
            "renewal message carried out",
            extra={"outcome": result.outcome.value, "detail": result.detail},
        )
        return result
    except Exception:
        logger.exception("renewal message failed; it will be delivered again")
        raise
    finally:
        logger.thread_safe_clear_keys()


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    worker = root().renewal_worker
    tally = RenewalTally()

    async def carry_out(record: SQSRecord) -> None:
        loop = asyncio.get_running_loop()
        tally.add(await loop.run_in_executor(_charges, _carry_out, worker, record))

    # A processor per batch: it holds the batch's results, and the local stack may run several
    # batches at once in one process.
    processor = AsyncBatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    response = async_process_partial_response(event, carry_out, processor, context)
    _publish(tally, failed=len(processor.fail_messages))
    return response


def _publish(tally: RenewalTally, *, failed: int) -> None:
    for outcome in Outcome:
        if tally.outcomes[outcome]:
            publish("RenewalMessages", tally.outcomes[outcome], outcome=outcome.value)
    if failed:
        publish("RenewalMessages", failed, outcome="error")
    if tally.outcomes[Outcome.CHARGED]:
        publish("RenewalsSucceeded", tally.outcomes[Outcome.CHARGED])
    for reason, count in tally.declined.items():
        publish("RenewalsFailed", count, reason=reason)
    for reason, count in tally.cancelled.items():
        publish("SubscriptionsCancelled", count, reason=reason)
    for currency, minor_units in tally.revenue.items():
        publish("Revenue", minor_units, MetricUnit.NoUnit, currency=currency)
