"""The incremental re-reading tests' fixture (fixtures/incremental) and the
one edit they make of it."""

from __future__ import annotations

from pathlib import Path

from entrylint import api

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "incremental"
OPTS = api.Options(profile="defconfig")


def replace_once(text: str, old: str, new: str) -> str:
    """``text`` with its one ``old`` made ``new`` (a test's edit names a place the text has once)."""
    assert text.count(old) == 1, old
    return text.replace(old, new)
