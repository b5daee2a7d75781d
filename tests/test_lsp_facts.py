"""The language server and the work that is the same for every file of a
tree: it reads the tree's facts a check of the command line stored
(cache.facts_read_only) and stores none (``--no-cache``: reads none); the
first analysis of a tree makes its facts and C answers in a process apart,
forked by the forker the server started before its threads
(apart.start_forker; ``-j 1``: in the server), with the same diagnostics;
the forker ends with the server.

What the server read is made visible by planting a value: the stored
fact of the names the tree's Kconfig declares is rewritten to declare the
name a fixture tests, so a server that reads it stays quiet where one that
makes the fact itself reports EL403."""

from __future__ import annotations

import asyncio
import os
import pickle
import shutil
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


async def _session(tree: Path, cache_dir: Path, src: Path, *args: str, edit: bool = False, during=None):
    """Open ``src`` in a server (and with ``edit``, add a line to it): the
    diagnostics published for each version of ``src`` (rule ids, sorted),
    the server's log lines, and what ``during(pid)`` gave while it ran."""
    client = LanguageClient("test", "1")
    loop = asyncio.get_running_loop()
    versions: dict[int, asyncio.Future] = {1: loop.create_future(), 2: loop.create_future()}
    logs: list[str] = []

    @client.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diags(params: T.PublishDiagnosticsParams):
        fut = versions.get(params.version) if params.uri == src.as_uri() else None
        if fut is not None and not fut.done():
            fut.set_result(sorted(str(d.code) for d in params.diagnostics))

    @client.feature(T.WINDOW_LOG_MESSAGE)
    def on_log(params: T.LogMessageParams):
        logs.append(params.message)

    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(cache_dir))
    await client.start_io(sys.executable, "-m", "entrylint", "lsp", *args, env=env)
    await client.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(), root_uri=tree.as_uri(),
                                                     initialization_options={"entrylint": {"debounceMs": 0}}))
    client.initialized(T.InitializedParams())
    text = src.read_text()
    client.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(src.as_uri(), "asm", 1, text)))
    got = []
    seen = None
    try:
        got.append(await asyncio.wait_for(versions[1], 120))
        if during is not None:
            seen = during(client._server.pid)
        if edit:
            client.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(version=2, uri=src.as_uri()),
                [T.TextDocumentContentChangeWholeDocument("\tnop\n" + text)]))
            got.append(await asyncio.wait_for(versions[2], 120))
    finally:
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()
    return got, logs, seen


async def _codes(tree: Path, cache_dir: Path, *args: str) -> list[str]:
    """The rule ids the server publishes for t.S, opened once."""
    got, _, _ = await _session(tree, cache_dir, tree / "t.S", *args)
    return got[0]


async def test_the_server_reads_the_facts_the_command_line_stored_and_stores_none(tree, tmp_path):
    fresh = tmp_path / "fresh"
    assert "EL403" in await _codes(tree, fresh)
    assert not _facts(fresh)  # the server made the facts it needed and kept them to itself
    stored = tmp_path / "stored"
    run = subprocess.run([sys.executable, "-m", "entrylint", "--root", ".", "t.S"], cwd=tree, capture_output=True,
                         text=True, env=dict(os.environ, ENTRYLINT_CACHE_DIR=str(stored)), timeout=120)
    before = _facts(stored)
    # the stored fact of the names the Kconfig files declare, made to declare the name t.S tests
    keys = {cache.key_of(("fact", "sourced-kconfig", str(r), "x86")) for r in (tree, tree.resolve())}
    planted = [p for p in before if p.stem in keys]
    # (once, in a suite run beside two callgrind jobs, none was stored: what the run said then)
    assert len(planted) == 1, (run.returncode, run.stdout[-1500:], run.stderr[-1500:], [p.name for p in before])
    entry = pickle.loads(planted[0].read_bytes())
    names, inside = entry["value"][0]
    assert "A" in names and "NOT_DECLARED" not in names and inside
    entry["value"] = (names | {"NOT_DECLARED"}, inside),
    planted[0].write_bytes(pickle.dumps(entry))
    assert "EL403" not in await _codes(tree, stored)  # read from the disk
    assert _facts(stored) == before  # and none added
    assert "EL403" in await _codes(tree, stored, "--no-cache")


def _children(pid: int) -> list[int]:
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(d.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


@pytest.fixture
def kaiser(tmp_path):
    """The 2017 tree with the C functions its entry_64.S calls (the C index asked)."""
    root = tmp_path / "kaiser"
    shutil.copytree(Path(__file__).resolve().parents[1] / "fixtures" / "kaiser-2017", root)
    (root / "arch/x86/entry/common.c").write_text(
        "__visible void do_syscall_64(unsigned long nr, struct pt_regs *regs)\n{\n}\n")
    (root / ".entrylint.toml").write_text('root = "."\n')
    return root


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="no /proc to see the server's processes")
async def test_a_trees_first_analysis_is_helped_apart_and_the_forker_ends_with_the_server(kaiser, tmp_path):
    src = kaiser / "arch/x86/entry/entry_64.S"
    helped, logs, kids = await _session(kaiser, tmp_path / "a", src, edit=True, during=_children)
    alone, logs1, kids1 = await _session(kaiser, tmp_path / "b", src, "-j", "1", edit=True, during=_children)
    assert helped == alone and helped[0]  # the same diagnostics, with the tree apart or not
    assert ["tree apart" in m for m in logs if "entry_64.S v" in m] == [True, False]  # the first analysis only
    assert not any("tree apart" in m for m in logs1) and kids1 == []
    assert len(kids) == 1  # the forker (its children are its own)
    for _ in range(100):  # it ends when the server does
        if not Path(f"/proc/{kids[0]}").exists():
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{kids[0]}").exists()
