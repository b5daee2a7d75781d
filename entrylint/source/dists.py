"""Installed distributions: the entry points of a group (the rule
plugins), read from the metadata folders of the distributions on
``sys.path`` -- what
``importlib.metadata.entry_points(group=...)`` finds -- without importing
``importlib.metadata``, which imports the email package (22 ms of every
check's start, 2% of a cold one).

A distribution is a ``NAME-VERSION.dist-info`` or ``NAME.egg-info`` folder
in a ``sys.path`` folder; one name (compared as importlib compares them:
case, ``-``, ``_`` and ``.`` alike) is the first one ``sys.path`` holds;
its ``entry_points.txt`` is INI text.  A ``sys.path`` entry that is not a
folder (a zip file, an egg) is left to ``importlib.metadata`` itself.
"""

from __future__ import annotations

import os
import re
import sys


def entry_points(group: str) -> list[tuple[str, str, str]]:
    """(name, value, distribution name) of each entry point of ``group``."""
    if any(p and not os.path.isdir(p) and os.path.exists(p) for p in sys.path):
        return _by_importlib(group)
    out = []
    for meta, _name in _distributions():
        try:
            with open(os.path.join(meta, "entry_points.txt"), encoding="utf-8") as f:
                text = f.read()
        except OSError:  # (a PKG-INFO file named *.egg-info, a distribution without entry points)
            continue
        found = _section(text, group)
        if found:
            dist = _dist_name(meta)
            out.extend((n, v, dist) for n, v in found)
    return out


def _distributions():
    """(metadata folder, its name) of each distribution on ``sys.path``, the
    first of each name (compared as importlib compares them)."""
    seen: set[str] = set()
    for entry in sys.path:
        folder = entry or "."
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            continue
        for name in names:
            low = name.lower()
            if not low.endswith((".dist-info", ".egg-info")):
                continue
            key = _normalized(low.rpartition(".")[0].partition("-")[0])
            if key not in seen:
                seen.add(key)
                yield os.path.join(folder, name), name


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _section(text: str, group: str) -> list[tuple[str, str]]:
    """The ``name = value`` lines of section ``[group]`` (``#`` comments and
    blank lines skipped, as importlib reads them)."""
    out, inside = [], False
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
        elif inside:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out


def _dist_name(meta: str) -> str:
    """The ``Name:`` its METADATA (or an egg's PKG-INFO) gives."""
    for file in ("METADATA", "PKG-INFO"):
        try:
            with open(os.path.join(meta, file), encoding="utf-8", errors="replace") as f:
                for line in f:
                    if line.lower().startswith("name:"):
                        return line[5:].strip()
                    if not line.strip():  # the end of the headers
                        break
        except OSError:
            continue
    return ""


def _by_importlib(group: str) -> list[tuple[str, str, str]]:
    import importlib.metadata as md

    out, names = [], {}  # a distribution's name parses its metadata: once per distribution
    for ep in md.entry_points(group=group):
        d = getattr(ep, "dist", None)
        if id(d) not in names:
            names[id(d)] = getattr(d, "name", "") or ""
        out.append((ep.name, ep.value, names[id(d)]))
    return out


def load(value: str):
    """The object an entry point's value names: ``module``, ``module:attr``
    or ``module:attr.sub``, extras (``[x]``) ignored."""
    import importlib

    target = value.split("[", 1)[0].strip()
    module, _, attrs = target.partition(":")
    obj = importlib.import_module(module.strip())
    for attr in filter(None, attrs.strip().split(".")):
        obj = getattr(obj, attr)
    return obj


def version(dist: str) -> str | None:
    """The version of distribution ``dist`` as its ``.dist-info`` folder's
    name says it (a wheel's install writes the version there), or None
    when there is no such folder."""
    key = _normalized(dist)
    for _meta, name in _distributions():
        base, _, ver = name.rpartition(".")[0].partition("-")
        if _normalized(base) == key:
            return ver if name.lower().endswith(".dist-info") and ver else None
    return None
