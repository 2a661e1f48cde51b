"""Test tiers by folder (unit, property_based, integration) and an AWS environment that can
only ever reach moto: fake credentials, a fixed region, no profile."""

from __future__ import annotations

from pathlib import Path

import pytest

_TIERS = {"unit": "unit", "property_based": "property", "integration": "integration"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    tests_root = Path(__file__).parent
    for item in items:
        tier = Path(item.path).relative_to(tests_root).parts[0]
        if tier in _TIERS:
            item.add_marker(_TIERS[tier])


@pytest.fixture(autouse=True)
def _offline_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "DYNAMODB_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
