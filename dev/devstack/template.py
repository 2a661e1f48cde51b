"""Reading ``template.yaml``: CloudFormation's short-form intrinsics as the long-form dicts
CloudFormation itself would see, and look-ups of the template's resources."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml


class TemplateError(ValueError):
    """The template cannot be read, or describes something the local stack cannot stand in for."""


# Every short form CloudFormation accepts. `Ref` and `Condition` are the two whose long form has
# no `Fn::` prefix.
_INTRINSICS: Mapping[str, str] = {
    "!Ref": "Ref",
    "!Condition": "Condition",
    **{
        f"!{name}": f"Fn::{name}"
        for name in (
            "And",
            "Base64",
            "Cidr",
            "Equals",
            "FindInMap",
            "GetAtt",
            "GetAZs",
            "If",
            "ImportValue",
            "Join",
            "Length",
            "Not",
            "Or",
            "Select",
            "Split",
            "Sub",
            "ToJsonString",
            "Transform",
        )
    },
}


class CloudFormationLoader(yaml.SafeLoader):
    """YAML as CloudFormation reads it: ``!Ref X`` → ``{"Ref": "X"}``, ``!GetAtt A.B`` →
    ``{"Fn::GetAtt": ["A", "B"]}``, and so on; an unknown ``!Tag`` is an error."""


def _construct_intrinsic(loader: CloudFormationLoader, node: yaml.Node) -> dict[str, Any]:
    name = _INTRINSICS[str(node.tag)]
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            # Attribute names may themselves hold dots (`!GetAtt Db.Endpoint.Address`).
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


for _tag in _INTRINSICS:
    CloudFormationLoader.add_constructor(_tag, _construct_intrinsic)
# CloudFormation reads an unquoted 2010-09-09 as a string, not as a date.
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def parse_template(text: str) -> dict[str, Any]:
    """The template in `text` as plain dicts, lists and strings."""
    try:
        loaded = yaml.load(text, Loader=CloudFormationLoader)
    except yaml.YAMLError as error:
        raise TemplateError(f"not a readable template: {error}") from error
    if not isinstance(loaded, dict) or not isinstance(loaded.get("Resources"), dict):
        raise TemplateError("a template is a mapping with a Resources mapping")
    return loaded


def load_template(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The template stored at `path` as plain dicts, lists and strings."""
    return parse_template(Path(path).read_text(encoding="utf-8"))


def resources_of_type(template: Mapping[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """Logical id → resource, for every resource of CloudFormation type `kind`."""
    return {
        logical_id: resource
        for logical_id, resource in template["Resources"].items()
        if resource.get("Type") == kind
    }


def globals_for(template: Mapping[str, Any], section: str) -> dict[str, Any]:
    """The SAM ``Globals`` of a section (``Function``, ``Api`` …), empty when there are none."""
    section_globals: dict[str, Any] = (template.get("Globals") or {}).get(section) or {}
    return section_globals


def function_events(
    template: Mapping[str, Any], event_type: str
) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(logical id, ``Handler``, event ``Properties``) for every event of type `event_type`
    (``Api``, ``SQS``, ``ScheduleV2`` …) of every ``AWS::Serverless::Function``, in template
    order; a function with such an event and no handler is a `TemplateError`."""
    function_globals = globals_for(template, "Function")
    for logical_id, resource in resources_of_type(template, "AWS::Serverless::Function").items():
        properties = resource.get("Properties") or {}
        handler = properties.get("Handler", function_globals.get("Handler"))
        for event in (properties.get("Events") or {}).values():
            if event.get("Type") != event_type:
                continue
            if not isinstance(handler, str):
                raise TemplateError(f"{logical_id} has no Handler")
            yield logical_id, handler, event.get("Properties") or {}
