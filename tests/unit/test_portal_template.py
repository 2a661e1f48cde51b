"""The customer billing page in the template: its files in a private bucket that only its
CloudFront distribution reads (origin access control), customers signed in by the hosted UI with
the authorization code flow and PKCE, and the API's CORS open to the page's origin alone, the
same origin the functions allow (billing.settings.ContactSettings.page_origin)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from billing.settings import ContactSettings
from devstack.portal import PAYPAL_CANCEL, PAYPAL_RETURN
from devstack.resources import parameter_value
from tests.support.aws import template

PAGE = "https://app.example.org/billing"


def _resource(logical_id: str) -> dict[str, Any]:
    properties: dict[str, Any] = template()["Resources"][logical_id]["Properties"]
    return properties


def _evaluate(value: Any, parameters: Mapping[str, str]) -> Any:
    """The intrinsic functions the page's origin is worked out with."""
    if not isinstance(value, Mapping):
        return value
    [(function, argument)] = value.items()
    if function == "Ref":
        return parameter_value(template(), argument, parameters)
    if function == "Fn::Split":
        separator, text = argument
        return _evaluate(text, parameters).split(separator)
    if function == "Fn::Select":
        index, items = argument
        return _evaluate(items, parameters)[index]
    if function == "Fn::Join":
        separator, items = argument
        return separator.join(_evaluate(item, parameters) for item in items)
    raise AssertionError(f"no evaluator for {function}")


@pytest.mark.parametrize("page", [PAGE, "http://127.0.0.1:3000/portal", "https://billing.example"])
def test_the_api_lets_the_pages_origin_alone_read_its_answers(page: str) -> None:
    api = _resource("BillingApi")
    origin = ContactSettings(CUSTOMER_PORTAL_URL=page).page_origin
    allowed = _evaluate(api["Cors"]["AllowOrigin"], {"CustomerPortalUrl": page})

    assert allowed == f"'{origin}'", "the preflight's origin is the functions'"
    assert "Idempotency-Key" in api["Cors"]["AllowHeaders"]
    for name, response in api["GatewayResponses"].items():
        headers = response["ResponseParameters"]["Headers"]
        assert headers["Access-Control-Allow-Origin"] == api["Cors"]["AllowOrigin"], name


def test_the_page_signs_in_through_the_hosted_ui_with_pkce_and_no_secret() -> None:
    client = _resource("UserPoolClient")

    assert client["GenerateSecret"] is False, "a static page keeps no secret"
    assert client["AllowedOAuthFlows"] == ["code"], "no implicit flow"
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert "openid" in client["AllowedOAuthScopes"]
    assert client["CallbackURLs"] == [{"Fn::Sub": "${CustomerPortalUrl}/"}]
    assert _resource("UserPoolDomain")["UserPoolId"] == {"Ref": "UserPool"}


def test_the_pages_files_are_read_by_its_distribution_alone() -> None:
    bucket = _resource("PortalBucket")
    [read, tls] = _resource("PortalBucketPolicy")["PolicyDocument"]["Statement"]
    distribution = _resource("PortalDistribution")["DistributionConfig"]
    [origin] = distribution["Origins"]

    assert all(bucket["PublicAccessBlockConfiguration"].values())
    assert read["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert read["Action"] == "s3:GetObject"
    source = read["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]
    assert source.endswith(":distribution/${PortalDistribution}")
    assert (tls["Effect"], tls["Condition"]) == ("Deny", {"Bool": {"aws:SecureTransport": "false"}})
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["PortalOriginAccessControl", "Id"]}
    assert origin["S3OriginConfig"] == {"OriginAccessIdentity": ""}, "no legacy identity"
    assert distribution["DefaultCacheBehavior"]["ViewerProtocolPolicy"] == "redirect-to-https"


def test_paypal_sends_customers_back_to_the_page() -> None:
    page = parameter_value(template(), "CustomerPortalUrl")

    assert parameter_value(template(), "PayPalReturnUrl") == f"{page}/{PAYPAL_RETURN}"
    assert parameter_value(template(), "PayPalCancelUrl") == f"{page}/{PAYPAL_CANCEL}"


def test_the_outputs_have_what_the_page_is_deployed_with() -> None:
    """scripts/deploy_portal.py reads them to upload the page and write its config.json."""
    assert {
        "ApiUrl",
        "PortalUrl",
        "PortalBucketName",
        "UserPoolDomainUrl",
        "UserPoolClientId",
    } <= set(template()["Outputs"])
