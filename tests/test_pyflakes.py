"""The project's own Python passes pyflakes: no unused import or name, no
undefined name, no f-string without a placeholder (a linter held to the
standard of the tools it learns from)."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FOLDERS = ("entrylint", "rules", "tests", "tools", "bench")


def _sources() -> list[Path]:
    out = []
    for d in FOLDERS:
        base = ROOT / d
        out += sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
        out += sorted(p for p in base.iterdir() if p.is_file() and p.suffix == "" and
                      p.read_bytes()[:40].startswith(b"#!/usr/bin/env python"))  # bench/run
    return out


def test_pyflakes_finds_nothing():
    api = pytest.importorskip("pyflakes.api")
    from pyflakes import reporter as rep

    class Collect(rep.Reporter):
        def __init__(self):
            self.found: list[str] = []

        def unexpectedError(self, filename, message):
            self.found.append(f"{filename}: {message}")

        def syntaxError(self, filename, msg, lineno, offset, text):
            self.found.append(f"{filename}:{lineno}: {msg}")

        def flake(self, message):
            self.found.append(str(message))

    files = _sources()
    assert len(files) > 100 and any(p.name == "run" for p in files)
    r = Collect()
    for p in files:
        api.check(p.read_text(encoding="utf-8"), str(p.relative_to(ROOT)), r)
    assert r.found == []
