"""DynamoDB capacity units of recorded requests, by DynamoDB's published sizing rules: moto
answers every request with a fixed ``ConsumedCapacity``, so the units are computed from the
items each request read or wrote, before and after, and the indexes those items are in."""

from __future__ import annotations

import base64
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import boto3

Item = Mapping[str, Any]
"""An item in DynamoDB's wire format (``{"name": {"S": "…"}}``)."""

WRITE_UNIT = 1024
READ_UNIT = 4096


def _number_size(text: str) -> int:
    digits = Decimal(text).normalize().as_tuple().digits
    return math.ceil(len(digits) / 2) + 1


def _binary_size(content: str | bytes) -> int:
    return len(base64.b64decode(content) if isinstance(content, str) else content)


_SCALARS: Mapping[str, Callable[[Any], int]] = {
    "S": lambda text: len(text.encode()),
    "N": _number_size,
    "B": _binary_size,
    "SS": lambda texts: sum(len(t.encode()) for t in texts),
    "NS": lambda numbers: sum(map(_number_size, numbers)),
    "BS": lambda blobs: sum(map(_binary_size, blobs)),
}


def value_size(value: Mapping[str, Any]) -> int:
    """Bytes one attribute value counts for (DynamoDB's "item size" rules): a list or map is
    3 bytes plus 1 per element besides its elements; a boolean or null is 1 byte."""
    (kind, content), *_ = value.items()
    if kind in _SCALARS:
        return _SCALARS[kind](content)
    if kind == "L":
        return 3 + sum(value_size(element) + 1 for element in content)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in content.items())
    return 1


def item_size(item: Item | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Index:
    keys: tuple[str, ...]
    projected: tuple[str, ...] | None
    """The attributes it holds besides the keys; None for ``ALL``."""

    def entry(self, item: Item | None, table_keys: tuple[str, ...]) -> dict[str, Any] | None:
        """What the index holds for `item`; None when the item is not in it (sparse)."""
        if not item or any(key not in item for key in self.keys):
            return None
        if self.projected is None:
            return dict(item)
        kept = {*table_keys, *self.keys, *self.projected}
        return {name: value for name, value in item.items() if name in kept}


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def described(cls, description: Mapping[str, Any]) -> Table:
        indexes = []
        for index in description.get("GlobalSecondaryIndexes", []):
            projection = index["Projection"]
            indexes.append(
                Index(
                    tuple(key["AttributeName"] for key in index["KeySchema"]),
                    None
                    if projection["ProjectionType"] == "ALL"
                    else tuple(projection.get("NonKeyAttributes", ())),
                )
            )
        return cls(tuple(key["AttributeName"] for key in description["KeySchema"]), tuple(indexes))

    def index_write_units(self, before: Item | None, after: Item | None) -> int:
        """Each index pays for the entry it removes and the one it adds; one that changes in
        place pays for the larger; one the write does not touch pays nothing."""
        units = 0
        for index in self.indexes:
            old, new = index.entry(before, self.keys), index.entry(after, self.keys)
            if old == new:
                continue
            same_key = old and new and all(old[k] == new[k] for k in index.keys)
            if same_key:
                units += _units(max(item_size(old), item_size(new)), WRITE_UNIT)
            else:
                units += _units(item_size(old), WRITE_UNIT) + _units(item_size(new), WRITE_UNIT)
        return units


def _units(size: int, unit: int) -> int:
    return math.ceil(size / unit) if size else 0


@dataclass
class Units:
    read: float = 0.0
    write: float = 0.0


class CapacityMeter:
    """Adds up the read and write units of the DynamoDB requests it is shown, reading each item
    a write touches before and after the write through a client of its own."""

    def __init__(self, endpoint_url: str | None) -> None:
        self.client = boto3.session.Session().client("dynamodb", endpoint_url=endpoint_url)
        self.units = Units()
        self._tables: dict[str, Table] = {}
        self._lock = threading.Lock()

    def table(self, name: str) -> Table:
        if name not in self._tables:
            described = self.client.describe_table(TableName=name)["Table"]
            self._tables[name] = Table.described(described)
        return self._tables[name]

    def _item(self, table: str, key: Item) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.client.get_item(
            TableName=table, Key=key, ConsistentRead=True
        ).get("Item")
        return found

    def _key(self, table: str, item: Item) -> dict[str, Any]:
        return {name: item[name] for name in self.table(table).keys}

    def _writes(self, operation: str, params: Mapping[str, Any]) -> list[tuple[str, Item, int]]:
        """(table, key, units per KB) of each item a write request touches; a transaction
        pays twice (prepare and commit)."""
        if operation == "TransactWriteItems":
            found = []
            for entry in params["TransactItems"]:
                (_, action), *_ = entry.items()
                key = action.get("Key") or self._key(action["TableName"], action["Item"])
                found.append((action["TableName"], key, 2))
            return found
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            table = params["TableName"]
            return [(table, params.get("Key") or self._key(table, params["Item"]), 1)]
        return []

    def send(
        self, operation: str, params: Mapping[str, Any], send: Callable[[], Mapping[str, Any]]
    ) -> Mapping[str, Any]:
        """`send()` the request and meter it (a request that fails is metered as if nothing
        had been read or written)."""
        writes = [
            (t, key, times, self._item(t, key)) for t, key, times in self._writes(operation, params)
        ]
        parsed = send()
        read = _read_units(operation, parsed, bool(params.get("ConsistentRead")))
        written = 0
        for table, key, times, before in writes:
            after = self._item(table, key)
            size = max(item_size(before), item_size(after))
            written += times * max(1, _units(size, WRITE_UNIT))
            written += self.table(table).index_write_units(before, after)
        with self._lock:
            self.units.read += read
            self.units.write += written
        return parsed


def _read_units(operation: str, parsed: Mapping[str, Any], consistent: bool) -> float:
    factor = 1.0 if consistent else 0.5
    if operation == "TransactGetItems":
        return sum(
            2 * max(1, _units(item_size(r.get("Item")), READ_UNIT)) for r in parsed["Responses"]
        )
    if operation == "GetItem":
        return factor * max(1, _units(item_size(parsed.get("Item")), READ_UNIT))
    if operation == "Query":
        return factor * max(1, _units(sum(map(item_size, parsed["Items"])), READ_UNIT))
    return 0.0
