"""What only the notifier on SES and SNS (in moto) shows: sales subscriptions filtering on a
notice's attributes, a failing SES or SNS reported and never raised, the configuration set and
tags each email carries, clients made late enough for moto, its settings. What customers,
partners and sales receive is the notifier contract's (tests/contract/test_notifier_contract.py),
run against this notifier and the recording fake."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from moto import mock_aws
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends
from pydantic import ValidationError

from billing.domain.state_machine import (
    Decision,
    EmailTemplate,
    NotifySales,
    apply,
)
from billing.domain.subscription import ChargeKind
from billing.notifications.sender import Delivery, DeliveryKind, Notifier, sales_subject
from billing.settings import NotificationSettings
from devstack.outbox import subscribe_queue
from tests.contract.outboxes import (
    CUSTOMER,
    PARTNER,
    PARTNER_CUSTOMER,
    partner_reminder,
    retry_now_declined,
    retry_now_paid,
)
from tests.support.notifications import REGION, Outbox, open_outbox
from tests.support.subscriptions import declined, past_due

SENDER = "billing@example.com"


@pytest.fixture
def outbox() -> Iterator[Outbox]:
    with mock_aws():
        yield open_outbox(SENDER)


def test_sales_can_subscribe_to_failed_outcomes_only(outbox: Outbox) -> None:
    sns = boto3.client("sns", region_name=REGION)
    failed_only = subscribe_queue(
        sns,
        outbox.sqs,
        outbox.settings.sales_topic_arn,
        "failed-retries",
        FilterPolicy=json.dumps({"outcome": ["failed"]}),
    )
    notifier = Notifier(outbox.settings)

    notifier.deliver(CUSTOMER, retry_now_paid().effects)
    notifier.deliver(CUSTOMER, retry_now_declined().effects)

    received = outbox.sqs.receive_message(
        QueueUrl=failed_only, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    [failed] = received["Messages"]
    assert failed["MessageAttributes"]["outcome"]["StringValue"] == "failed"
    assert len(outbox.sales_messages()) == 2


def test_an_unverified_sender_is_a_failed_delivery_not_an_exception(
    outbox: Outbox, caplog: pytest.LogCaptureFixture
) -> None:
    settings = outbox.settings.model_copy(update={"email_sender": "nobody@unverified.example"})
    decision = retry_now_declined()

    with caplog.at_level(logging.ERROR, logger="billing.notifications.sender"):
        email, sales = Notifier(settings).deliver(CUSTOMER, decision.effects)

    assert email == Delivery(
        DeliveryKind.CUSTOMER_EMAIL,
        CUSTOMER.email,
        EmailTemplate.RETRY_NOW_RESULT,
        error="MessageRejected",
    )
    assert not email.sent
    assert sales.sent, "one failed notification does not stop the others"
    assert outbox.emails == []
    [record] = caplog.records
    assert record.__dict__["error"] == "MessageRejected"
    assert record.__dict__["template"] == "retry_now_result"


def test_a_missing_sales_topic_is_a_failed_delivery(outbox: Outbox) -> None:
    arn = outbox.settings.sales_topic_arn.replace("sales-notices", "gone")
    settings = outbox.settings.model_copy(update={"sales_topic_arn": arn})

    email, sales = Notifier(settings).deliver(CUSTOMER, retry_now_declined().effects)

    assert email.sent
    assert (sales.sent, sales.error, sales.to) == (False, "NotFound", arn)


class _UnreachableSES:
    def send_email(self, **_: Any) -> dict[str, str]:
        raise EndpointConnectionError(endpoint_url="https://email.us-east-1.amazonaws.com")


def test_an_unreachable_ses_is_a_failed_delivery(outbox: Outbox) -> None:
    [delivery] = Notifier(outbox.settings, ses=_UnreachableSES()).deliver(
        PARTNER_CUSTOMER, partner_reminder().effects
    )

    assert (delivery.sent, delivery.error) == (False, "EndpointConnectionError")


def test_the_configuration_set_language_and_tags_go_with_each_email(outbox: Outbox) -> None:
    ses = boto3.client("sesv2", region_name=REGION)
    ses.create_configuration_set(ConfigurationSetName="billing-events")
    requests: list[dict[str, Any]] = []
    ses.meta.events.register(
        "provide-client-params.sesv2.SendEmail",
        lambda params, **_: requests.append(params),
    )
    settings = outbox.settings.model_copy(update={"ses_configuration_set": "billing-events"})

    [delivery] = Notifier(settings, ses=ses).deliver(PARTNER_CUSTOMER, partner_reminder().effects)

    assert delivery.sent
    [request] = requests
    assert request["ConfigurationSetName"] == "billing-events"
    assert request["Content"]["Simple"]["Headers"] == [{"Name": "Content-Language", "Value": "en"}]
    assert {tag["Name"]: tag["Value"] for tag in request["EmailTags"]} == {
        "account_id": "acct__p",  # acct_p, as a tag value may hold it (its bounces find it)
        "template": "renewal_reminder",
        "locale": "en",
    }


def test_clients_are_created_on_first_use_so_moto_started_later_catches_them() -> None:
    notifier = Notifier(
        NotificationSettings.from_environment(
            {
                "EMAIL_SENDER": SENDER,
                "SALES_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sales-notices",
            }
        )
    )
    with mock_aws():
        boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)

        [delivery] = notifier.deliver(PARTNER_CUSTOMER, partner_reminder().effects)

        assert delivery.sent
        [sent] = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
        assert sent.destinations == {"ToAddresses": [PARTNER.email]}


def _last_retry_declined() -> Decision:
    sub = past_due()
    while sub.retries_left > 1:
        assert sub.next_retry_at is not None
        sub = apply(sub, declined(sub.next_retry_at, ChargeKind.RETRY)).subscription
    assert sub.next_retry_at is not None
    return apply(sub, declined(sub.next_retry_at, ChargeKind.RETRY))


@pytest.mark.parametrize(
    ("decision", "subject"),
    [
        (retry_now_declined(), "Retry Now failed: subscription sub_1"),
        (retry_now_paid(), "Retry Now succeeded: subscription sub_1"),
        (_last_retry_declined(), "Cancelled after failed retries: subscription sub_1"),
    ],
)
def test_sales_subjects_say_what_happened(decision: Decision, subject: str) -> None:
    [notice] = decision.of_type(NotifySales)
    assert sales_subject(notice.notice, notice.details) == subject


def test_settings_need_a_sender_and_a_sales_topic() -> None:
    with pytest.raises(ValidationError) as raised:
        NotificationSettings.from_environment({})
    assert {error["loc"][0] for error in raised.value.errors()} == {
        "EMAIL_SENDER",
        "SALES_TOPIC_ARN",
    }
    with pytest.raises(ValidationError):
        NotificationSettings.from_environment(
            {"EMAIL_SENDER": SENDER, "SALES_TOPIC_ARN": "sales-notices"}
        )
