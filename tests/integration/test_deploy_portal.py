"""`make deploy`'s last step (scripts/deploy_portal.py): the billing page's files and a
config.json pointing at the deployed stack (its API, the Cognito hosted UI, Stripe's own
Stripe.js) put where CloudFront asks the bucket for them, against moto's S3."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.portal import page_files
from scripts.deploy_portal import key_prefix, page_config, stack_name, upload

OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-3.amazonaws.com/prod",
    "PortalUrl": "https://app.example.org/billing/",
    "PortalBucketName": "billing-portal-bucket",
    "UserPoolDomainUrl": "https://billing-prod-123456789012.auth.eu-west-3.amazoncognito.com",
    "UserPoolClientId": "client123",
}


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=OUTPUTS["PortalBucketName"])
        yield client


def test_the_page_and_its_config_go_under_the_pages_path(s3: Any) -> None:
    config = page_config(OUTPUTS, {"StripePublishableKey": "pk_live_51example"})

    keys = upload(s3, OUTPUTS["PortalBucketName"], key_prefix(OUTPUTS["PortalUrl"]), config)

    assert set(keys) == {f"billing/{name}" for name, _, _ in page_files()} | {"billing/config.json"}
    stored = s3.get_object(Bucket=OUTPUTS["PortalBucketName"], Key="billing/config.json")
    assert stored["CacheControl"] == "no-cache", "revalidated: a deployment shows at once"
    assert json.loads(stored["Body"].read()) == {
        "api_url": OUTPUTS["ApiUrl"],
        "stripe_js_url": "https://js.stripe.com/v3/",
        "stripe_publishable_key": "pk_live_51example",
        "sign_in": {
            "kind": "cognito",
            "domain": OUTPUTS["UserPoolDomainUrl"],
            "client_id": "client123",
            "redirect_uri": "https://app.example.org/billing/",
        },
    }
    module = s3.get_object(Bucket=OUTPUTS["PortalBucketName"], Key="billing/app.js")
    assert module["ContentType"] == "text/javascript; charset=utf-8"


def test_a_page_at_the_root_of_its_host_has_no_prefix() -> None:
    assert key_prefix("https://billing.example.org/") == ""


def test_the_stack_is_samconfigs() -> None:
    assert stack_name("prod") == "subscription-billing-prod"
