"""How the layer declares its immutable values: ``@frozen`` (or ``@frozen(kw_only=True)``), a
frozen dataclass made for a fraction of what ``@dataclass(frozen=True)`` costs at import.

The standard library writes, compiles and runs the source of six methods for each frozen class
(``__init__``, ``__repr__``, ``__eq__``, ``__hash__``, ``__setattr__``, ``__delattr__``), and a
function loads some eighty of the layer's classes at every cold start, of which it makes
instances of a few (docs/performance.md). Here the standard library still collects the fields,
so `dataclasses.fields`, `replace`, `asdict` and `is_dataclass` see a dataclass like any other
(and mypy checks one); ``__init__`` is written and compiled as the standard library's, but when
it is first looked up (an instance made, `inspect` reading the signature); the other five are
the same code for every class, closed over the names of its fields. They do what the standard
library's would, with the same errors."""

from __future__ import annotations

import dataclasses
import inspect
import reprlib
import sys
from collections.abc import Callable, Iterable
from dataclasses import MISSING, Field, FrozenInstanceError
from operator import attrgetter
from typing import Any, dataclass_transform, overload

type Method = Callable[..., Any]


@overload
def frozen[T](cls: type[T], /) -> type[T]: ...


@overload
def frozen[T](*, kw_only: bool = False) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, Field))
def frozen[T](cls: type[T] | None = None, /, *, kw_only: bool = False) -> Any:
    """``@dataclass(frozen=True)`` (``kw_only`` as there), made as the module's docstring says."""

    def make(cls: type[T]) -> type[T]:
        undocumented = not cls.__dict__.get("__doc__")
        if undocumented:
            cls.__doc__ = cls.__name__  # spares the standard library a signature: written below
        made = _with_fields(cls, kw_only=kw_only)
        fields = dataclasses.fields(made)  # type: ignore[arg-type]
        for name, method in _methods(made, fields).items():
            _name(made, name, method)
            setattr(made, name, method)
        params = made.__dataclass_params__  # type: ignore[attr-defined]
        params.init = params.repr = params.eq = params.frozen = True
        if undocumented:
            made.__doc__ = made.__name__ + _signature(fields)
        return made

    return make if cls is None else make(cls)


def _with_fields[T](cls: type[T], *, kw_only: bool) -> type[T]:
    """The class made a dataclass by the standard library with no method: its fields alone."""
    frozen_bases = [
        params
        for base in cls.__mro__[1:]
        if (params := base.__dict__.get("__dataclass_params__")) is not None and params.frozen
    ]
    # Asked for no method, nothing is frozen yet, which the library refuses below a frozen
    # class: the bases say they are frozen again once it is done, and so does this class.
    for params in frozen_bases:
        params.frozen = False
    try:
        made = dataclasses.dataclass(
            cls, init=False, repr=False, eq=False, frozen=False, kw_only=kw_only
        )
    finally:
        for params in frozen_bases:
            params.frozen = True
    if any("InitVar" in str(f.type) for f in made.__dataclass_fields__.values()):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__name__}: @frozen takes no InitVar")
    return made


def _methods(cls: type, fields: tuple[Field[Any], ...]) -> dict[str, Method | _Init]:
    """The methods the standard library would add to a frozen dataclass, where it would."""
    own = cls.__dict__
    for name in ("__setattr__", "__delattr__"):
        if name in own:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    methods: dict[str, Method | _Init] = {}
    if "__init__" not in own:
        methods["__init__"] = _Init(cls, fields)
    if "__repr__" not in own:
        methods["__repr__"] = _repr(_names(f for f in fields if f.repr))
    if "__eq__" not in own:
        methods["__eq__"] = _eq(_values(_names(f for f in fields if f.compare)))
    explicit_hash = own.get("__hash__", MISSING)
    if explicit_hash is MISSING or (explicit_hash is None and "__eq__" in own):
        hashed = _names(f for f in fields if (f.compare if f.hash is None else f.hash))
        methods["__hash__"] = _hash(_values(hashed))
    names = frozenset(f.name for f in fields)
    methods["__setattr__"], methods["__delattr__"] = _setattr(cls, names), _delattr(cls, names)
    return methods


def _name(cls: type, name: str, method: object) -> None:
    """Names `method` as the standard library names the methods it adds."""
    if not isinstance(method, _Init):
        method.__name__, method.__qualname__ = name, f"{cls.__qualname__}.{name}"  # type: ignore[attr-defined]


class _Init:
    """The ``__init__`` of a class, compiled when it is first looked up: to make an instance, or
    by `inspect` (its signature). A function's cold start loads far more classes than it makes
    instances of, and compiling ``__init__`` was most of what making a class still cost."""

    __slots__ = ("_cls", "_fields")

    def __init__(self, cls: type, fields: tuple[Field[Any], ...]) -> None:
        self._cls, self._fields = cls, fields

    def __get__(self, instance: object, owner: type | None = None) -> Method:
        init = _init(self._cls, self._fields)
        _name(self._cls, "__init__", init)
        type.__setattr__(self._cls, "__init__", init)
        return init if instance is None else init.__get__(instance, owner)


def _names(fields: Iterable[Field[Any]]) -> tuple[str, ...]:
    return tuple(f.name for f in fields)


def _values(names: tuple[str, ...]) -> Callable[[object], tuple[Any, ...]]:
    """An instance's values of `names`, as a tuple whatever their number."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        (name,) = names
        return lambda instance: (getattr(instance, name),)
    return lambda instance: ()


def _in_init_order(fields: tuple[Field[Any], ...]) -> list[Field[Any] | str]:
    """The parameters of ``__init__``: the positional ones, then ``*`` and the keyword-only."""
    taken = [f for f in fields if f.init]
    keywords: list[Field[Any] | str] = [f for f in taken if f.kw_only]
    return [f for f in taken if not f.kw_only] + (["*", *keywords] if keywords else [])


class _Factory:
    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()
"""The default of a parameter whose field has a default factory, as in the standard library."""


def _init(cls: type, fields: tuple[Field[Any], ...]) -> Method:
    """The one method compiled for each class, written as the standard library writes it: its
    parameters are the class's signature, and it is made in the class's module."""
    me = "__dataclass_self__" if "self" in _names(fields) else "self"
    helpers: dict[str, Any] = {"__frozen_set__": object.__setattr__, "__frozen_factory__": _FACTORY}
    parameters = [me]
    for f in _in_init_order(fields):
        if isinstance(f, str):
            parameters.append(f)
        elif f.default is not MISSING:
            helpers[f"__frozen_default_{f.name}__"] = f.default
            parameters.append(f"{f.name}=__frozen_default_{f.name}__")
        else:
            factory = f.default_factory is not MISSING
            parameters.append(f"{f.name}=__frozen_factory__" if factory else f.name)
    body = []
    for f in fields:
        if f.default_factory is not MISSING:
            helpers[f"__frozen_make_{f.name}__"] = f.default_factory
            made = f"__frozen_make_{f.name}__()"
            value = f"{made} if {f.name} is __frozen_factory__ else {f.name}" if f.init else made
        elif f.init:
            value = f.name
        else:
            continue  # its default, if it has one, is the class attribute
        body.append(f"  __frozen_set__({me}, {f.name!r}, {value})")
    if hasattr(cls, "__post_init__"):
        body.append(f"  {me}.__post_init__()")
    source = "\n".join(
        [
            f"def __create_fn__({', '.join(helpers)}):",
            f" def __init__({', '.join(parameters)}):",
            *(body or ["  pass"]),
            " return __init__",
        ]
    )
    module = sys.modules.get(cls.__module__)
    namespace: dict[str, Any] = {}
    exec(source, module.__dict__ if module else {}, namespace)
    init: Method = namespace["__create_fn__"](**helpers)
    init.__annotations__ = {
        f.name: f.type for f in _in_init_order(fields) if not isinstance(f, str)
    } | {"return": None}
    return init


def _signature(fields: tuple[Field[Any], ...]) -> str:
    """What the standard library writes as the docstring of a class that has none: the class's
    signature as `inspect` shows it, written here without working it out."""
    shown = []
    for f in _in_init_order(fields):
        if isinstance(f, str):
            shown.append(f)
            continue
        text = f"{f.name}: {inspect.formatannotation(f.type)}"
        if f.default is not MISSING:
            text += f" = {f.default!r}"
        elif f.default_factory is not MISSING:
            text += f" = {_FACTORY!r}"
        shown.append(text)
    return f"({', '.join(shown)})"


def _repr(names: tuple[str, ...]) -> Method:
    @reprlib.recursive_repr()
    def shown(self: object) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in names)
        return f"{self.__class__.__qualname__}({fields})"

    return shown


def _eq(values: Callable[[object], tuple[Any, ...]]) -> Method:
    def equal(self: object, other: object) -> object:
        if other.__class__ is self.__class__:
            same: bool = values(self) == values(other)
            return same
        return NotImplemented

    return equal


def _hash(values: Callable[[object], tuple[Any, ...]]) -> Method:
    def hashed(self: object) -> int:
        return hash(values(self))

    return hashed


def _setattr(cls: type, names: frozenset[str]) -> Method:
    def refused(self: object, name: str, value: object) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)  # type: ignore[arg-type]

    return refused


def _delattr(cls: type, names: frozenset[str]) -> Method:
    def refused(self: object, name: str) -> None:
        if type(self) is cls or name in names:
            raise FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)  # type: ignore[arg-type]

    return refused
