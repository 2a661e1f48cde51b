"""Print the CloudFormation template the SAM transform makes of template.yaml, as JSON: the IAM
roles, event source mappings and permissions SAM generates, exactly as `sam deploy` would send
them. Runs with the SAM CLI's own Python, which has the translator, offline:

    .tools/sam/bin/python scripts/sam_transform.py template.yaml

Local code folders are replaced by a placeholder S3 location first, as `sam validate` does:
the transform accepts only S3 locations, and packaging changes nothing else."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator
from samtranslator.yaml_helper import yaml_parse

PACKAGED = "s3://packaged-by-sam-deploy/artefact.zip"
_CODE_LOCATIONS = {
    "AWS::Serverless::Function": "CodeUri",
    "AWS::Serverless::LayerVersion": "ContentUri",
}


def transformed(text: str, region: str = "us-east-1") -> dict[str, object]:
    template = yaml_parse(text)
    for resource in template["Resources"].values():
        location = _CODE_LOCATIONS.get(resource["Type"])
        if location is not None:
            resource["Properties"][location] = PACKAGED
    translator = Translator(
        managed_policy_map=None,
        sam_parser=Parser(),
        # Only its region is read (for ARNs); no request is made.
        boto_session=boto3.Session(region_name=region),
    )
    result: dict[str, object] = translator.translate(
        template, parameter_values={}, get_managed_policy_map=dict
    )
    return result


if __name__ == "__main__":
    json.dump(transformed(Path(sys.argv[1]).read_text(encoding="utf-8")), sys.stdout)
