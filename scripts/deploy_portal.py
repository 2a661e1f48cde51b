"""Upload the customer billing page (portal/) to a deployed stack's bucket, which its CloudFront
distribution serves at CustomerPortalUrl, with the config.json that points the page at the
stack's API, its Cognito hosted UI and Stripe's own Stripe.js. `make deploy` runs it after
`sam deploy`; by hand (AWS credentials needed):

    .venv/bin/python scripts/deploy_portal.py --config-env dev

Every object is stored with ``Cache-Control: no-cache``: CloudFront then asks S3 whether it
changed on each load (a cheap conditional request), so a deployment shows at once without an
invalidation."""

from __future__ import annotations

import argparse
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3

from devstack.portal import CONFIG, CONTENT_TYPES, PageConfig, cognito_sign_in, page_files

SAMCONFIG = Path(__file__).resolve().parents[1] / "samconfig.toml"
STRIPE_JS = "https://js.stripe.com/v3/"


def page_config(outputs: Mapping[str, str], parameters: Mapping[str, str]) -> PageConfig:
    """The deployed page's config.json, from the stack's outputs and parameters."""
    return PageConfig(
        api_url=outputs["ApiUrl"],
        stripe_js_url=STRIPE_JS,
        stripe_publishable_key=parameters["StripePublishableKey"],
        sign_in=cognito_sign_in(
            outputs["UserPoolDomainUrl"], outputs["UserPoolClientId"], outputs["PortalUrl"]
        ),
    )


def key_prefix(page_url: str) -> str:
    """Where the page's files go in the bucket: the path of its address (``billing/`` for
    ``https://app.example.com/billing/``), as CloudFront asks S3 for it."""
    path = urlsplit(page_url).path.strip("/")
    return f"{path}/" if path else ""


def upload(s3: Any, bucket: str, prefix: str, config: PageConfig) -> list[str]:
    """The page's files and its config.json put in `bucket` under `prefix`; their keys."""
    objects = [
        (prefix + name, path.read_bytes(), content_type)
        for name, path, content_type in page_files()
    ]
    objects.append((prefix + CONFIG, config.text().encode(), CONTENT_TYPES[".json"]))
    for key, body, content_type in objects:
        s3.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=content_type, CacheControl="no-cache"
        )
    return [key for key, _, _ in objects]


def stack_name(config_env: str) -> str:
    config = tomllib.loads(SAMCONFIG.read_text(encoding="utf-8"))
    name: str = config[config_env]["deploy"]["parameters"]["stack_name"]
    return name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-env", default="dev", help="samconfig.toml's environment")
    args = parser.parse_args()
    [stack] = boto3.client("cloudformation").describe_stacks(StackName=stack_name(args.config_env))[
        "Stacks"
    ]
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    keys = upload(
        boto3.client("s3"),
        outputs["PortalBucketName"],
        key_prefix(outputs["PortalUrl"]),
        page_config(outputs, parameters),
    )
    print(f"The billing page: {len(keys)} files at {outputs['PortalUrl']}")  # noqa: T201


if __name__ == "__main__":
    main()
