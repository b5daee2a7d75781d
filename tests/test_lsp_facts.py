"""The language server reads the tree's facts a check of the command line
stored (cache.facts_read_only) and stores none; ``entrylint lsp --no-cache``
reads none.

What the server read is made visible by planting a value: the stored
fact of the names the tree's Kconfig declares is rewritten to declare the
name a fixture tests, so a server that reads it stays quiet where one that
makes the fact itself reports EL403."""

from __future__ import annotations

import asyncio
import os
import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("pygls")
from lsprotocol import types as T  # noqa: E402
from pygls.lsp.client import LanguageClient  # noqa: E402

from entrylint import cache  # noqa: E402

SOURCE = "#ifdef CONFIG_NOT_DECLARED\n\tnop\n#endif\n"


@pytest.fixture
def tree(tmp_path):
    t = tmp_path / "tree"
    t.mkdir()
    (t / "Kconfig").write_text('config A\n\tbool "a"\n')
    (t / ".entrylint.toml").write_text('root = "."\n')
    (t / "t.S").write_text(SOURCE)
    time.sleep(cache.RACY_SECONDS + 0.1)  # (a fact of files changed since is not stored: their ctime)
    return t


def _facts(cache_dir: Path) -> list[Path]:
    return sorted((cache_dir / "results" / cache.FACTS).rglob("*.pickle"))


async def _codes(tree: Path, cache_dir: Path, *args: str) -> list[str]:
    """The rule ids the server publishes for t.S, opened once."""
    client = LanguageClient("test", "1")
    got: asyncio.Future = asyncio.get_running_loop().create_future()

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diags(params: T.PublishDiagnosticsParams):
        if not got.done():
            got.set_result([d.code for d in params.diagnostics])

    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(cache_dir))
    await client.start_io(sys.executable, "-m", "entrylint", "lsp", *args, env=env)
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(), root_uri=tree.as_uri(),
                                                     initialization_options={"entrylint": {"debounceMs": 0}}))
    client.initialized(T.InitializedParams())
    src = tree / "t.S"
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(src.as_uri(), "asm", 1, SOURCE)))
    try:
        return await asyncio.wait_for(got, 120)
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()


async def test_the_server_reads_the_facts_the_command_line_stored_and_stores_none(tree, tmp_path):
    fresh = tmp_path / "fresh"
    assert "EL403" in await _codes(tree, fresh)
    assert not _facts(fresh)  # the server made the facts it needed and kept them to itself
    stored = tmp_path / "stored"
    subprocess.run([sys.executable, "-m", "entrylint", "--root", ".", "t.S"], cwd=tree, capture_output=True,
                   env=dict(os.environ, ENTRYLINT_CACHE_DIR=str(stored)), timeout=120)
    before = _facts(stored)
    # the stored fact of the names the Kconfig files declare, made to declare the name t.S tests
    keys = {cache.key_of(("fact", "sourced-kconfig", str(r), "x86")) for r in (tree, tree.resolve())}
    planted = [p for p in before if p.stem in keys]
    assert len(planted) == 1
    entry = pickle.loads(planted[0].read_bytes())
    names, inside = entry["value"][0]
    assert "A" in names and "NOT_DECLARED" not in names and inside
    entry["value"] = (names | {"NOT_DECLARED"}, inside),
    planted[0].write_bytes(pickle.dumps(entry))
    assert "EL403" not in await _codes(tree, stored)  # read from the disk
    assert _facts(stored) == before  # and none added
    assert "EL403" in await _codes(tree, stored, "--no-cache")
