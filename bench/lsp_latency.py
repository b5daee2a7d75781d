#!/usr/bin/env python3
"""Latency of ``entrylint lsp``: didChange to publishDiagnostics.

A benchmark, not a test: it starts the server as an editor would, opens a
file and times didOpen to the first diagnostics -- twice: with a cache
folder of its own and nothing in it (cold), and again after a check of the
file by the command line in that folder stored the tree's facts (the server
reads them, ``cache.facts_read_only``).  The second server then takes N
edits one after another, each waiting for the diagnostics of its version,
and the median and spread are printed beside the cold times.

    python bench/lsp_latency.py [FILE] [--edits 20] [--profile defconfig|all] [--debounce-ms 0]

FILE defaults to 6.12's arch/x86/entry/entry_64.S in the kernel cache.
Six kinds of edit are timed (each --edits times):

  code     a real instruction change (a `nop` inserted, moving along the file:
           each edit takes the last one's out and puts one in elsewhere):
           the preprocessor and GNU as read the file again from the snapshot
           before the edited line (incremental.py); where the nop changes no
           tuple at either place the last walk is taken with its nodes moved
           (analysis/shifted.py), the program and the rules run in full;
  typing   an instruction's operand retyped in place, one line after another
           (``pushq %rax`` -> ``pushq %rbx`` ...): what keystrokes inside a
           line send; the preprocessor and GNU as read from the snapshot
           before the line and rejoin the last run after it;
  keys     an instruction typed over a code line a key at a time (``\tm``,
           ``\tmo``, ... ``\tmovq %gs:8, %r11``): the assembler refuses the
           line at most keys; the program is the last one with the line made
           again (program/patch.py), the walk and the rules run in full;
  comment  a comment appended to a line of the buffer as it is: no code
           changed, so the last analysis is reused (reuse.py), its findings
           moved and the suppressions applied again;
  lines    a line of code added to the buffer (a `nop`, 37 code lines on
           each time), then the one added before it deleted: one line per
           edit, as an editor sends them (keystrokes.added); where the line
           changes no tuple the last walk is taken with its nodes moved
           (analysis/shifted.py), the program and the rules run in full;
  undo     back and forth between two texts analysed before (undo/redo):
           answered from the engine's cache.

The debounce is 0 by default so the figure is the analysis, not the wait
the editor setting adds (default 250 ms).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from keystrokes import added, along, keyed, moved, typed
from lsprotocol import types as T
from pygls.lsp.client import LanguageClient

DEFAULT = Path.home() / ".cache" / "entrylint" / "kernels" / "linux-6.12" / "arch" / "x86" / "entry" / "entry_64.S"


class Client(LanguageClient):
    def __init__(self):
        super().__init__("entrylint-bench", "1")
        self.waiters: dict[int | None, asyncio.Future] = {}
        self.counts: dict[int | None, int] = {}
        self.verbose = False


def _client() -> Client:
    c = Client()

    @c.feature(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def on_diags(client: Client, params: T.PublishDiagnosticsParams):
        fut = client.waiters.pop(params.version, None)
        client.counts[params.version] = len(params.diagnostics)
        if fut is not None and not fut.done():
            fut.set_result(time.perf_counter())

    @c.feature(T.WINDOW_LOG_MESSAGE)
    def on_log(client: Client, params: T.LogMessageParams):
        if client.verbose:
            print("  server:", params.message)

    return c


def _edits(text: str, kind: str, n: int) -> list[str]:
    if kind == "code":
        return [moved(text, k) for k in range(n)]
    lines = text.splitlines(keepends=True)
    out = []
    for k in range(n):
        new = list(lines)
        i = along(lines, k)
        new[i] = new[i].rstrip("\n") + f"\t/* edit {k} */\n"
        out.append("".join(new))
    return out


async def run(args) -> int:
    with tempfile.TemporaryDirectory(prefix="entrylint-lsp-bench-") as cache_dir:
        return await _run(args, Path(cache_dir))


async def _run(args, cache_dir: Path) -> int:
    path = Path(args.file).resolve()
    text = path.read_text(encoding="utf-8", errors="surrogateescape")
    uri = path.as_uri()
    env = dict(os.environ, ENTRYLINT_CACHE_DIR=str(cache_dir))
    loop = asyncio.get_running_loop()
    settings = {"entrylint": {"debounceMs": args.debounce_ms, "profile": args.profile}}

    async def start() -> Client:
        c = _client()
        c.verbose = args.verbose
        await c.start_io(sys.executable, "-m", "entrylint", "lsp", env=env)
        await c.initialize_async(T.InitializeParams(capabilities=T.ClientCapabilities(),
                                                    root_uri=path.parent.as_uri(), initialization_options=settings))
        c.initialized(T.InitializedParams())
        return c

    async def stop(c: Client) -> None:
        await c.shutdown_async(None)
        c.exit(None)
        await c.stop()

    c = await start()

    async def send(version: int, body: str, open_: bool = False) -> float:
        fut = loop.create_future()
        c.waiters[version] = fut
        t0 = time.perf_counter()
        if open_:
            c.text_document_did_open(T.DidOpenTextDocumentParams(T.TextDocumentItem(uri, "asm", version, body)))
        else:
            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [T.TextDocumentContentChangeWholeDocument(body)]))
        t1 = await asyncio.wait_for(fut, args.timeout)
        return (t1 - t0) * 1000

    cold = await send(1, text, open_=True)
    print(f"file {path}  profile {args.profile}  debounce {args.debounce_ms} ms  "
          f"({c.counts.get(1)} diagnostics)")
    print(f"cold (didOpen -> publishDiagnostics, server just started, nothing cached): {cold:9.0f} ms")
    await stop(c)
    # a check of the file by the command line: it stores the tree's facts
    subprocess.run([sys.executable, "-m", "entrylint", str(path)], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, cwd=cache_dir)
    c = await start()
    cold = await send(1, text, open_=True)
    print(f"cold, the tree's facts stored by a check of the command line:       {cold:9.0f} ms")
    version = 1
    rows = {}
    kinds = [k for k in ("code", "undo", "typing", "keys", "comment", "lines") if k in args.kinds]
    code_bodies = _edits(text, "code", args.edits)
    current = text  # the buffer's text
    for kind in kinds:
        times = []
        if kind == "undo":  # back and forth between the last two texts analysed (in the cache)
            bodies = [code_bodies[-2] if k % 2 == 0 else code_bodies[-1] for k in range(args.edits)]
            if "code" not in kinds:
                bodies = [text if k % 2 == 0 else current for k in range(args.edits)]
        elif kind == "code":
            bodies = code_bodies
        elif kind == "typing":  # one line of the buffer retyped several times, then the next
            bodies = [typed(current, k) for k in range(args.edits)]
        elif kind == "keys":  # an instruction typed over a line, a key at a time
            bodies = [keyed(current, k) for k in range(args.edits)]
        elif kind == "lines":  # a line added to the buffer as it is, then deleted
            bodies = [added(current, k) for k in range(args.edits)]
        else:  # comments typed into the buffer as it is
            bodies = _edits(current, kind, args.edits)
        for body in bodies:
            current = body
            version += 1
            times.append(await send(version, body))
        rows[kind] = times
        q = statistics.quantiles(times, n=10) if len(times) >= 2 else times * 9
        print(f"didChange -> publishDiagnostics, {kind:<7} edits x{len(times)}: median {statistics.median(times):7.0f} ms"
              f"  p10 {q[0]:6.0f}  p90 {q[-1]:6.0f}  min {min(times):6.0f}  max {max(times):6.0f}")
    if args.hover:
        # requests answer from the last result while an analysis runs: typing never waits
        line = next(i for i, s in enumerate(text.splitlines()) if s.startswith("\tswapgs"))
        times = []
        for k, body in enumerate(_edits(text, "code", 5)):
            version += 1
            fut = loop.create_future()
            c.waiters[version] = fut
            c.text_document_did_change(T.DidChangeTextDocumentParams(
                T.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [T.TextDocumentContentChangeWholeDocument(body + f"\tnop /* {k} */\n")]))
            await asyncio.sleep(0.2)  # the analysis of this edit has started
            t0 = time.perf_counter()
            await c.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(line, 2)))
            times.append((time.perf_counter() - t0) * 1000)
            await asyncio.wait_for(fut, args.timeout)
        print(f"hover while an analysis runs x{len(times)}: median {statistics.median(times):7.0f} ms"
              f"  max {max(times):6.0f}")
    await stop(c)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file", nargs="?", default=str(DEFAULT))
    ap.add_argument("--edits", type=int, default=20)
    ap.add_argument("--profile", default="defconfig", help="defconfig (the editor default), max, pti-off or all")
    ap.add_argument("--debounce-ms", type=int, default=0)
    ap.add_argument("--kinds", default="code,undo,typing,keys,comment,lines")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--no-hover", dest="hover", action="store_false",
                    help="skip timing hover requests sent while an analysis runs")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the server's log lines (analysis times)")
    args = ap.parse_args()
    if not Path(args.file).is_file():
        print(f"{args.file}: no such file (fetch 6.12 with tools/fetch_kernels.py, or name a file)", file=sys.stderr)
        return 2
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
