"""Shared fixtures: the fetched kernel trees and build (see tests/kernels.py).

Fixtures (session scoped; each skips with a reason when its input is absent):
  kernel_tree_612, kernel_tree_61  -> Path of CACHE/linux-<ver>
  kernel_tree                      -> parametrized over ("6.1", "6.12")
  kernel_build_612                 -> Path of CACHE/build-6.12 (O= build dir with .config)

Tests that use a tree fixture get the ``kernel`` marker, tests that use a build
fixture get ``kernel`` and ``oracle``, so ``-m "not kernel"`` deselects them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# the records entrylint makes per statement are frozen here: a write to one
# fails the test that makes it (source/record.py; users run without the guard)
os.environ["ENTRYLINT_FROZEN_RECORDS"] = "1"

import kernels

TREE_FIXTURES = {"kernel_tree", "kernel_tree_61", "kernel_tree_612"}
BUILD_FIXTURES = {"kernel_build_612"}


def _tree(version: str) -> Path:
    why = kernels.tree_skip_reason(version)
    if why:
        pytest.skip(why)
    return kernels.tree_path(version)


def _build(version: str) -> Path:
    why = kernels.build_skip_reason(version)
    if why:
        pytest.skip(why)
    return kernels.build_path(version)


@pytest.fixture(scope="session")
def kernel_cache() -> Path:
    return kernels.kernel_cache()


@pytest.fixture(scope="session")
def kernel_tree_612() -> Path:
    return _tree("6.12")


@pytest.fixture(scope="session")
def kernel_tree_61() -> Path:
    return _tree("6.1")


@pytest.fixture(scope="session", params=kernels.VERSIONS, ids=[f"linux-{v}" for v in kernels.VERSIONS])
def kernel_tree(request) -> Path:
    return _tree(request.param)


@pytest.fixture(scope="session")
def kernel_build_612() -> Path:
    return _build("6.12")


def pytest_collection_modifyitems(config, items):
    for item in items:
        names = set(getattr(item, "fixturenames", ()))
        if names & (TREE_FIXTURES | BUILD_FIXTURES) and not item.get_closest_marker("kernel"):
            item.add_marker(pytest.mark.kernel)
        if names & BUILD_FIXTURES and not item.get_closest_marker("oracle"):
            item.add_marker(pytest.mark.oracle)


@pytest.fixture(scope="session", autouse=True)
def _result_cache_in_tmp(tmp_path_factory):
    """The result cache of every CLI run in the tests goes to a temporary
    folder: the tests never read or fill the user's ~/.cache."""
    old = os.environ.get("ENTRYLINT_CACHE_DIR")
    os.environ["ENTRYLINT_CACHE_DIR"] = str(tmp_path_factory.mktemp("entrylint-results"))
    yield
    if old is None:
        os.environ.pop("ENTRYLINT_CACHE_DIR", None)
    else:
        os.environ["ENTRYLINT_CACHE_DIR"] = old


@pytest.fixture
def facts(tmp_path, monkeypatch):
    """The tree's facts on (entrylint/cache.py ``fact``), kept in a fresh
    folder: (tmp_path, ``restart()``), which forgets what the process
    remembers of them, as a later run would."""
    from entrylint import cache

    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cache, "RACY_SECONDS", 0.0)
    monkeypatch.setattr(cache, "_valid", {})
    monkeypatch.setattr(cache, "_facts", {})
    monkeypatch.setattr(cache, "facts_enabled", True)

    def restart():
        cache._facts.clear()
        cache._valid.clear()

    return tmp_path, restart


@pytest.fixture
def spy(monkeypatch):
    """``spy(owner, name, note)``: ``owner.name`` replaced by a call of it
    that appends ``note(*args, result)`` to a list returned, when it is not
    None (the memos' tests count their replays this way; keyword arguments
    are passed on, not noted)."""

    def install(owner, name: str, note) -> list:
        seen: list = []
        real = getattr(owner, name)

        def called(*args, **kwargs):
            got = real(*args, **kwargs)
            mark = note(*args, got)
            if mark is not None:
                seen.append(mark)
            return got

        monkeypatch.setattr(owner, name, called)
        return seen

    return install
