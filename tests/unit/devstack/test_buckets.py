"""The template's S3 buckets created in moto as the local stack creates them: named from their
logical ids, versioned and locked as the template says, and resolved where the template refers
to them."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from devstack.resources import LocalResources, UnresolvableValue, create_resources, resolve
from tests.support.aws import resources_of_type, template

pytestmark = pytest.mark.unit

REGION = "us-east-1"


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("s3", region_name=REGION)


def _created(**given: Any) -> LocalResources:
    clients = {name: boto3.client(name, region_name=REGION) for name in ("dynamodb", "sqs", "sns")}
    return create_resources(template(), prefix="t-", **clients, **given)


def test_every_bucket_of_the_template_is_created_and_resolved(s3: Any) -> None:
    resources = _created(s3=s3)

    names = {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}
    assert set(resources.buckets) == set(resources_of_type("AWS::S3::Bucket"))
    assert names == {bucket.name for bucket in resources.buckets.values()}
    assert resolve({"Ref": "InvoicesBucket"}, template(), resources) == "t-invoicesbucket"
    assert (
        resolve({"Fn::Sub": "${InvoicesBucket.Arn}/*"}, template(), resources)
        == "arn:aws:s3:::t-invoicesbucket/*"
    )


def test_the_invoices_bucket_is_versioned_and_locked_as_the_template_says(s3: Any) -> None:
    _created(s3=s3)

    properties = resources_of_type("AWS::S3::Bucket")["InvoicesBucket"]["Properties"]
    locked = s3.get_object_lock_configuration(Bucket="t-invoicesbucket")["ObjectLockConfiguration"]
    retention = locked["Rule"]["DefaultRetention"]
    assert s3.get_bucket_versioning(Bucket="t-invoicesbucket")["Status"] == "Enabled"
    assert locked["ObjectLockEnabled"] == "Enabled"
    expected = properties["ObjectLockConfiguration"]["Rule"]["DefaultRetention"]
    assert {key: retention[key] for key in expected} == expected


@pytest.mark.usefixtures("s3")
def test_a_bucket_is_not_created_without_an_s3_client() -> None:
    resources = _created()

    with pytest.raises(UnresolvableValue, match="give create_resources an s3 client"):
        resolve({"Ref": "InvoicesBucket"}, template(), resources)
