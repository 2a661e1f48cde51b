"""`@frozen` behaves as ``@dataclass(frozen=True)``: each class shape below is made both ways and
their instances compared method by method (signature, docstring, repr, equality, hash, the frozen
errors, `replace`, `fields`, pattern matching); and the layer's frozen classes are made by it."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import pkgutil
from collections.abc import Callable
from dataclasses import FrozenInstanceError, dataclass, field, fields, replace
from typing import Any, ClassVar

import pytest

import billing
from billing.domain.values import frozen


def _shapes(make: Callable[..., Any]) -> dict[str, type]:
    """The same classes, made by `make` (``frozen`` or the standard library's frozen dataclass)."""

    @make
    class Point:
        """A documented class keeps its docstring."""

        x: int
        y: int = 0

    @make
    class Empty:
        pass

    @make(kw_only=True)
    class Event:
        at: int
        by: str | None = None
        actor: ClassVar[str] = "someone"

        def __post_init__(self) -> None:
            object.__setattr__(self, "at", abs(self.at))

    @make(kw_only=True)
    class Charged(Event):
        amount: int
        tags: tuple[str, ...] = field(default=())
        notes: list[str] = field(default_factory=list)

    @make
    class Hidden:
        shown: str
        secret: str = field(repr=False, compare=False)
        counted: int = field(default=1, hash=False)

    @make
    class Selfish:
        self: int

    @make
    class Custom:
        value: int

        def __repr__(self) -> str:
            return "custom"

        def __eq__(self, other: object) -> bool:
            return type(other) is type(self)

        __hash__ = None  # type: ignore[assignment]

    return {
        shape.__name__: shape for shape in (Point, Empty, Event, Charged, Hidden, Selfish, Custom)
    }


def _standard(cls: Any = None, /, *, kw_only: bool = False) -> Any:
    make = dataclass(frozen=True, kw_only=kw_only)
    return make if cls is None else make(cls)


OURS, THEIRS = _shapes(frozen), _shapes(_standard)
ARGUMENTS: dict[str, list[tuple[tuple[Any, ...], dict[str, Any]]]] = {
    "Point": [((1, 2), {}), ((1,), {}), ((), {"x": 3, "y": 4})],
    "Empty": [((), {})],
    "Event": [((), {"at": -5}), ((), {"at": 1, "by": "ada"})],
    "Charged": [((), {"at": 2, "amount": 9}), ((), {"at": 2, "amount": 9, "tags": ("a",)})],
    "Hidden": [(("a", "s"), {}), (("a", "t", 2), {})],
    "Selfish": [((1,), {})],
    "Custom": [((1,), {})],
}


def _refusal(value: object, attribute: str) -> tuple[str, str]:
    """What setting and deleting `attribute` of `value` raise."""
    with pytest.raises(FrozenInstanceError) as assigned:
        setattr(value, attribute, 1)
    with pytest.raises(FrozenInstanceError) as deleted:
        delattr(value, attribute)
    return str(assigned.value), str(deleted.value)


def _hash(value: object) -> int | str:
    try:
        return hash(value)
    except TypeError as unhashable:
        return str(unhashable)


@pytest.mark.unit
@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_a_frozen_class_behaves_as_a_frozen_dataclass(name: str) -> None:
    ours, theirs = OURS[name], THEIRS[name]

    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__doc__ == theirs.__doc__
    assert ours.__match_args__ == theirs.__match_args__  # type: ignore[attr-defined]
    assert [(f.name, f.type, f.kw_only) for f in fields(ours)] == [
        (f.name, f.type, f.kw_only) for f in fields(theirs)
    ]
    assert ours.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for args, kwargs in ARGUMENTS[name]:
        one, other = ours(*args, **kwargs), theirs(*args, **kwargs)
        again = ours(*args, **kwargs)
        assert repr(one).replace("_shapes.<locals>.", "") == repr(other).replace(
            "_shapes.<locals>.", ""
        )
        assert dataclasses.asdict(one) == dataclasses.asdict(other)
        assert (one == again) is (other == theirs(*args, **kwargs))
        assert one != other  # another class: not equal, as between two dataclasses
        assert _hash(one) == _hash(other)
        assert replace(one) == one
        for attribute in [f.name for f in fields(ours)] + ["elsewhere"]:
            assert _refusal(one, attribute) == _refusal(other, attribute)


@pytest.mark.unit
def test_wrong_arguments_fail_as_they_would_for_a_dataclass() -> None:
    for make in (OURS, THEIRS):
        with pytest.raises(TypeError, match="missing 1 required keyword-only argument: 'amount'"):
            make["Charged"](at=1)
        with pytest.raises(TypeError, match="takes from 2 to 3 positional arguments but 4"):
            make["Point"](1, 2, 3)


@pytest.mark.unit
def test_init_is_compiled_when_first_needed_by_a_subclass_or_by_inspect() -> None:
    @frozen
    class Base:
        x: int

    class Plain(Base):
        """Not a dataclass of its own: makes its instances with the base's ``__init__``."""

    @frozen
    class Other:
        y: int = 2

    assert Plain(1).x == 1
    assert Base(2) == Base(2)
    assert str(inspect.signature(Other)) == "(y: 'int' = 2) -> None"
    assert Other() == Other(2)


@pytest.mark.unit
def test_defaults_made_by_a_factory_are_made_for_each_instance() -> None:
    one, other = OURS["Charged"](at=1, amount=2), OURS["Charged"](at=1, amount=2)

    assert one.notes == []
    assert one.notes is not other.notes


@pytest.mark.unit
def test_a_frozen_class_may_extend_or_be_extended_by_a_frozen_dataclass() -> None:
    ours: Any = OURS["Point"]
    theirs: Any = THEIRS["Point"]

    @dataclass(frozen=True)
    class Later(ours):  # type: ignore[misc]
        z: int = 0

    @frozen
    class Sooner(theirs):  # type: ignore[misc]
        z: int = 0

    assert Later(1, 2, 3) == Later(1, 2, 3)
    assert Sooner(1, 2, 3) == Sooner(1, 2, 3)
    with pytest.raises(TypeError, match="cannot inherit non-frozen dataclass from a frozen one"):

        @dataclass
        class Thawed(ours):  # type: ignore[misc]
            z: int = 0


@pytest.mark.unit
def test_pattern_matching_reads_the_fields_in_order() -> None:
    point: Any = OURS["Point"]
    match point(1, 2):
        case point(x, y):
            assert (x, y) == (1, 2)
        case _:
            pytest.fail("no match")


def _layer_classes() -> list[type]:
    found = []
    for module in pkgutil.walk_packages(billing.__path__, "billing."):
        loaded = importlib.import_module(module.name)
        found += [
            value
            for value in vars(loaded).values()
            if isinstance(value, type)
            and value.__module__ == module.name
            and dataclasses.is_dataclass(value)
        ]
    return found


@pytest.mark.unit
def test_the_layers_frozen_dataclasses_are_made_by_frozen() -> None:
    """A class made by the standard library's ``@dataclass(frozen=True)`` costs every cold start
    that imports it about three times as much (docs/performance.md): the layer's use `@frozen`."""
    standard = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in _layer_classes()
        if cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
        and cls.__setattr__.__code__.co_qualname.startswith("__create_fn__")
    ]

    assert standard == []
