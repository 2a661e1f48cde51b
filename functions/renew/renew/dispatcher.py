"""The renewal run, started by EventBridge Scheduler: queue every subscription with something
due now, and every charge attempt left pending too long, for the worker."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from billing.composition import root
from billing.observability import logger, publish

root().start(charges=False, repository=False)


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    # The run's id follows its messages, so the worker's logs correlate with this run.
    logger.set_correlation_id(context.aws_request_id)
    report = root().renewal_dispatcher.run(context.aws_request_id)
    publish("RenewalsQueued", report.due)
    publish("ReconciliationsQueued", report.pending)
    publish("OldPendingAttempts", report.old_pending)
    publish("RenewalBacklog", report.backlog)
    logger.info("renewal run queued its work", extra=asdict(report))
    return asdict(report)
