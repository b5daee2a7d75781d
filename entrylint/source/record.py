"""Dataclasses made cheaply: records made once per statement, edge or
operand, and the other data classes of the pipeline.

A frozen dataclass's ``__init__`` sets each field through
``object.__setattr__``: 1.5 us for four fields, against 0.45 us for a plain
slotted class.  A file at the limits makes close to a million such records
(a body line and a statement per line read, a problem per bad invocation,
an edge per successor), and the guard cost a tenth of its run.

``record`` makes a slotted dataclass with the equality and hash of a frozen
one and a plain ``__init__``.  The records are still never changed after
they are made (they are shared by the profiles of one file and by the
caches); the guard is put back when ``ENTRYLINT_FROZEN_RECORDS`` is set, as
the test suite sets it, so a write to a record fails there.

``data`` is ``dataclasses.dataclass`` (the same parameters but ``init``,
``kw_only`` and ``match_args``; the same methods, fields, ``replace()``)
made at a fraction of the cost.  ``dataclasses`` compiles each method of
each class from a text of its own when the class is made -- ``__init__``,
``__repr__``, ``__eq__``, ``__hash__``, a frozen class's ``__setattr__``
and ``__delattr__``: 1 ms a class, 50 ms of the 53 classes a check
imports, a third of its imports, in each process.  Here the methods that
run at every record made, compared or hashed are compiled from one text
(a dict lookup of a Location is 0.40 us with generic ones, 0.25 us
compiled); the others are the functions below, one for every class, with
the class's field names (an ``InitVar`` field, which none has, is
refused).
"""

from __future__ import annotations

import dataclasses
import os

FROZEN = bool(os.environ.get("ENTRYLINT_FROZEN_RECORDS"))
_FACTORY = object()  # an argument not given, for a field with a default_factory


def record(cls=None, /, *, order: bool = False):
    """``@record`` or ``@record(order=True)``: ``@dataclass(frozen=True,
    slots=True, ...)`` in behaviour, without the per-field cost of the guard."""

    def wrap(c):
        return _make(c, frozen=True, guard=FROZEN, slots=True, eq=True, order=order, unsafe_hash=False, repr=True,
                     weakref_slot=False)

    return wrap if cls is None else wrap(cls)


def data(cls=None, /, *, frozen: bool = False, slots: bool = False, eq: bool = True, order: bool = False,
         unsafe_hash: bool = False, repr: bool = True, weakref_slot: bool = False):  # noqa: A002 - dataclass's names
    """``@data`` or ``@data(frozen=True, ...)``: ``@dataclass`` with those
    parameters (a frozen class is guarded, as ``dataclasses`` guards it)."""

    def wrap(c):
        return _make(c, frozen=frozen, guard=frozen, slots=slots, eq=eq, order=order, unsafe_hash=unsafe_hash,
                     repr=repr, weakref_slot=weakref_slot)

    return wrap if cls is None else wrap(cls)


def _make(cls, *, frozen: bool, guard: bool, slots: bool, eq: bool, order: bool, unsafe_hash: bool, repr: bool,
          weakref_slot: bool):
    """``cls`` as ``dataclass(frozen=frozen, ...)`` makes it; ``guard``:
    assigning to a field raises (else a frozen class only compares and
    hashes as one)."""
    if order and not eq:
        raise ValueError("eq must be true if order is true")
    body = dict(cls.__dict__)  # (what the class itself defines: not replaced, as dataclasses leaves it)
    documented = bool(body.get("__doc__"))
    if not documented:
        cls.__doc__ = "-"  # (else dataclasses works out a text of its own, from an __init__ not made yet)
    cls = dataclasses.dataclass(init=False, repr=False, eq=False, slots=slots,
                                **({"weakref_slot": True} if weakref_slot else {}))(cls)
    fields = dataclasses.fields(cls)
    if any(isinstance(f.type, dataclasses.InitVar) or "InitVar" in str(f.type)
           for f in cls.__dataclass_fields__.values()):
        raise TypeError(f"{cls.__name__}: an InitVar field (made by dataclasses.dataclass only)")
    names = tuple(f.name for f in fields)
    compared = tuple(f.name for f in fields if f.compare)
    # __hash__ as dataclasses decides it: a class body's own is kept; eq
    # and frozen (or unsafe_hash): of the fields; eq alone: unhashable
    own_hash = body.get("__hash__", dataclasses.MISSING)
    explicit = not (own_hash is dataclasses.MISSING or own_hash is None and "__eq__" in body)
    if unsafe_hash and explicit:
        raise TypeError(f"Cannot overwrite attribute __hash__ in class {cls.__name__}")
    hashed = tuple(f.name for f in fields if (f.compare if f.hash is None else f.hash)) \
        if not explicit and (unsafe_hash or eq and frozen) else None
    made = _compiled(cls, fields, guard, compared if eq else None, order, hashed)
    if not documented:  # (dataclasses' own text, without the annotations)
        cls.__doc__ = f"{cls.__name__}({', '.join(_shown(f) for f in fields if f.init)})"
    if repr:
        made["__repr__"] = _repr(tuple(f.name for f in fields if f.repr))
    if guard:
        made.update(_guard(cls, frozenset(names)))
        if slots:  # (pickled and copied field by field, past the guard)
            made.update(_state(names))
    for name, fn in made.items():
        if name not in body:
            fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
            setattr(cls, name, fn)
    if hashed is not None:  # (also over the None a class body that defines __eq__ alone has)
        cls.__hash__ = made["__hash__"]
    elif not explicit and eq:
        cls.__hash__ = None
    return cls


def _compiled(cls, fields, guard: bool, compared: tuple | None, order: bool, hashed: tuple | None):
    """The methods run at every record made, compared or hashed, compiled
    from one text: ``__init__``, ``__eq__`` (``compared``: the fields it
    compares; None: none), the order's, ``__hash__`` (``hashed``: the fields
    it hashes; None: none) -- as ``dataclasses`` writes them, by name."""
    ns = {"_FACTORY": _FACTORY, "_set": object.__setattr__}
    params, lines = [], []
    defaulted = False  # (a parameter with a default given: every later one has one)
    for f in fields:
        n = f.name
        has_factory = f.default_factory is not dataclasses.MISSING
        if f.init:
            value = n
            if f.default is not dataclasses.MISSING:
                ns[f"_d_{n}"] = f.default
                params.append(f"{n}=_d_{n}")
            elif has_factory:
                ns[f"_f_{n}"] = f.default_factory
                params.append(f"{n}=_FACTORY")
                value = f"_f_{n}() if {n} is _FACTORY else {n}"
            elif defaulted:
                raise TypeError(f"non-default argument {n!r} follows default argument")
            else:
                params.append(n)
            defaulted = defaulted or params[-1] != n
        elif has_factory:
            ns[f"_f_{n}"] = f.default_factory
            value = f"_f_{n}()"
        elif f.default is not dataclasses.MISSING:
            ns[f"_d_{n}"] = f.default
            value = f"_d_{n}"
        else:
            continue
        lines.append(f"_set(self, {n!r}, {value})" if guard else f"self.{n} = {value}")
    if hasattr(cls, "__post_init__"):
        lines.append("self.__post_init__()")
    src = [f"def __init__(self, {', '.join(params)}):", *(f"    {x}" for x in lines or ["pass"])]

    def tup(obj: str, names: tuple) -> str:
        return "(" + "".join(f"{obj}.{n}," for n in names) + ")"

    ops = [("__eq__", "==")] if compared is not None else []
    if order:  # (order needs eq: _make)
        ops += [("__lt__", "<"), ("__le__", "<="), ("__gt__", ">"), ("__ge__", ">=")]
    for name, op in ops:
        src += [f"def {name}(self, other):", "    if other.__class__ is self.__class__:",
                f"        return {tup('self', compared)} {op} {tup('other', compared)}", "    return NotImplemented"]
    if hashed is not None:
        src += ["def __hash__(self):", f"    return hash({tup('self', hashed)})"]
    exec("\n".join(src) + "\n", ns)  # noqa: S102 - the text is made here of the class's field names
    made = ["__init__", *(name for name, _ in ops), *(["__hash__"] if hashed is not None else [])]
    return {name: ns[name] for name in made}


def _shown(f) -> str:
    """A constructor parameter as a class's doc shows it."""
    if f.default is not dataclasses.MISSING:
        return f"{f.name}={f.default!r}"
    return f"{f.name}=<factory>" if f.default_factory is not dataclasses.MISSING else f.name


def _repr(shown: tuple[str, ...]):
    def __repr__(self):
        return f"{type(self).__qualname__}({', '.join(f'{n}={getattr(self, n)!r}' for n in shown)})"

    return __repr__


def _guard(cls, names: frozenset) -> dict:
    """A frozen dataclass's ``__setattr__`` and ``__delattr__``: a field
    (any name, on the class itself) cannot be assigned or deleted."""

    def __setattr__(self, name, value):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self, name):
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    return {"__setattr__": __setattr__, "__delattr__": __delattr__}


def _state(names: tuple[str, ...]) -> dict:
    """A frozen slotted class's pickling: its fields' values, set back past the guard."""

    def __getstate__(self):
        return [getattr(self, n) for n in names]

    def __setstate__(self, state):
        for n, v in zip(names, state):
            object.__setattr__(self, n, v)

    return {"__getstate__": __getstate__, "__setstate__": __setstate__}
