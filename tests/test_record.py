"""source/record.py's ``data`` and ``record`` against ``dataclasses.dataclass``:
the same class, made both ways from one body, behaves the same -- its
constructor, equality, hash values, order, repr, replace(), fields(), pickling
and copying, the frozen guard, an unhashable mutable class."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import re
import subprocess
import sys
from dataclasses import field

import pytest

from entrylint.source import record as rec
from entrylint.source.record import data, record

PARAMS = [
    {},
    {"frozen": True},
    {"frozen": True, "slots": True},
    {"slots": True, "unsafe_hash": True},
    {"frozen": True, "order": True},
    {"frozen": True, "order": True, "slots": True},
    {"eq": False},
    {"slots": True, "eq": False},
    {"repr": False, "frozen": True},
]


def shapes(deco):
    """The class shapes of the pipeline's data classes, each made by ``deco``."""

    @deco
    class Point:
        """A place."""

        file: str
        line: int
        col: int = 1

    @deco
    class Bag:
        name: str
        items: list = field(default_factory=list)
        note: str = field(default="", compare=False, repr=False)
        weight: int = field(default=0, hash=False)
        cache: dict = field(default_factory=dict, init=False, compare=False, repr=False)

    @deco
    class Single:
        only: tuple = ()

    return Point, Bag, Single


def _values(cls):
    return {"Point": [("a.S", 3), ("a.S", 3, 1), ("a.S", 2, 9), ("b.S", 3)],
            "Bag": [("x",), ("x", [1, 2]), ("x", [1, 2], "other note"), ("x", [], "", 4)],
            "Single": [(), ((1, 2),), (("a",),)]}[cls.__name__]


def _observe(cls):
    """What a user of ``cls`` sees, as plain values."""
    out = []
    objs = [cls(*a) for a in _values(cls)]
    hashable = cls.__hash__ is not None

    def h(x):
        if cls.__hash__ is object.__hash__:
            return "by identity"
        try:
            return hash(x)
        except TypeError as e:  # (a field holds a list)
            return str(e)

    def order(a, b):
        try:
            return a < b, a <= b, a > b, a >= b
        except TypeError as e:  # (fields that do not compare: an int and a str)
            return str(e)

    for a in objs:
        row = [re.sub(r" at 0x[0-9a-f]+", "", repr(a)), dataclasses.astuple(a), [f.name for f in dataclasses.fields(a)],
               getattr(cls, "__match_args__", None)]
        for b in objs:
            row.append(a == b)
            row.append(a != b)
            if hashable:
                row.append(h(a) == h(b))
            if "__lt__" in cls.__dict__:
                row.append(order(a, b))
        if hashable:
            row.append(h(a))
        row.append(repr(dataclasses.replace(a)) == repr(a))
        row.append(dataclasses.replace(a) == a)
        out.append(row)
    return out


@pytest.mark.parametrize("params", PARAMS, ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "plain")
def test_a_data_class_behaves_as_the_dataclass(params):
    ours = shapes(data(**params))
    theirs = shapes(dataclasses.dataclass(**params))
    for a, b in zip(ours, theirs):
        assert _observe(a) == _observe(b), a.__name__
        assert (a.__hash__ is None) == (b.__hash__ is None)
    # a class's own doc is kept; else its constructor's parameters, as dataclasses writes them (no annotations)
    assert ours[0].__doc__ == "A place."
    assert ours[1].__doc__ == "Bag(name, items=<factory>, note='', weight=0)"


# (pickled: classes a module holds)
@data(frozen=True)
class FrozenPoint:
    file: str
    line: int
    items: list = field(default_factory=list, compare=False)


@data(frozen=True, slots=True)
class FrozenSlottedPoint:
    file: str
    line: int
    items: list = field(default_factory=list, compare=False)


@data(frozen=True, order=True, slots=True)
class OrderedPoint:
    file: str
    line: int
    items: list = field(default_factory=list, compare=False)


@record(order=True)
class RecordPoint:
    file: str
    line: int
    items: tuple = ()


@pytest.mark.parametrize("cls", [FrozenPoint, FrozenSlottedPoint, OrderedPoint, RecordPoint], ids=lambda c: c.__name__)
def test_a_frozen_data_class_refuses_a_write_and_pickles_copies(cls):
    p = cls("a.S", 3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.line = 4
    with pytest.raises(dataclasses.FrozenInstanceError):
        del p.line
    x = cls("a.S", 3, [1] if cls is not RecordPoint else (1,))
    for y in (pickle.loads(pickle.dumps(x)), copy.copy(x), copy.deepcopy(x)):
        assert y == x and type(y) is type(x) and repr(y) == repr(x) and y.items == x.items


def test_a_mutable_data_class_takes_writes_and_is_unhashable():
    Point, _, _ = shapes(data)
    p = Point("a.S", 3)
    p.line = 4
    assert p == Point("a.S", 4)
    with pytest.raises(TypeError):
        hash(p)


def test_what_the_class_body_defines_is_kept_and_post_init_runs():
    @data(frozen=True)
    class Own:
        a: int

        def __eq__(self, other):
            return True

        __hash__ = object.__hash__

        def __repr__(self):
            return "own"

    assert Own(1) == Own(2) and repr(Own(1)) == "own" and Own.__hash__ is object.__hash__
    seen = []

    @data
    class Post:
        a: int

        def __post_init__(self):
            seen.append(self.a)

    Post(5)
    assert seen == [5]


def test_a_non_default_field_after_a_default_is_refused():
    with pytest.raises(TypeError):
        @data
        class Bad:
            a: int = 1
            b: int


def test_a_subclass_of_a_frozen_class_sets_what_is_not_a_field():
    """(findings/model.py's Finding kinds are plain subclasses of a frozen data class)"""
    @data(frozen=True)
    class Base:
        a: int

    class Kind(Base):
        pass

    k = Kind(1)
    k.extra = 2  # (dataclasses allows it: not a field, not the class itself)
    with pytest.raises(dataclasses.FrozenInstanceError):
        k.a = 3
    assert k == Kind(1) and k != Base(1)


def test_records_are_the_frozen_slotted_dataclass_guarded_only_in_the_suite():
    """``record``: slotted, compared and hashed as a frozen dataclass; the
    write guard (and its pickling past the guard) only when
    ENTRYLINT_FROZEN_RECORDS is set, as the suite sets it."""
    assert rec.FROZEN

    Loc = RecordPoint

    @dataclasses.dataclass(frozen=True, slots=True, order=True)
    class Std:
        file: str
        line: int
        items: tuple = ()

    a, b = Loc("a.S", 3), Loc("a.S", 2)
    assert sorted([a, b]) == [b, a] and hash(a) == hash(Std("a.S", 3, ())) and not hasattr(a, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.line = 1
    assert pickle.loads(pickle.dumps(a)) == a
    code = ("import pickle\nfrom entrylint.source.record import record, FROZEN\n"
            "@record\nclass R:\n    a: int\n"
            "r = R(1); r.a = 2; print(FROZEN, r == R(2), pickle.loads(pickle.dumps(r)) == r, hash(r) == hash((2,)))")
    env = {k: v for k, v in __import__("os").environ.items() if k != "ENTRYLINT_FROZEN_RECORDS"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True", "True"]
