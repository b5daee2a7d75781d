"""``entrylint lsp``: the language server (pygls 2, stdio).

The protocol side only: documents come in, jobs go to the engine's worker
thread, results come back through ``loop.call_soon_threadsafe`` and are
published; requests (hover, definition, ...) read the newest result and
never wait for an analysis longer than ``WAIT`` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from pathlib import Path

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from entrylint import __version__
from entrylint.faces.lsp import features
from entrylint.faces.lsp.engine import Config, Engine, Job
from entrylint.source.overlay import tree_cache

log = logging.getLogger("entrylint.lsp")

SOURCE_SUFFIXES = (".S", ".s")
HEADER_SUFFIXES = (".h", ".inc")
WAIT = 30.0  # seconds a request waits for the first analysis of its document
DEFAULTS = {"profile": None, "inlayHints": False, "debounceMs": 250}
SEVERITY = {"error": T.DiagnosticSeverity.Error, "warning": T.DiagnosticSeverity.Warning,
            "info": T.DiagnosticSeverity.Information}


def _valid_setting(name: str, value) -> bool:
    from entrylint.api import ALL_PROFILES

    if name == "profile":
        return value is None or value in ALL_PROFILES or value == "all"
    if name == "inlayHints":
        return isinstance(value, bool)
    # debounceMs: a delay in milliseconds, up to a minute
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 60_000


def _path(uri: str) -> Path:
    return Path(to_fs_path(uri) or uri)


@tree_cache(maxsize=8192)
def _uri(file: str) -> str:
    """The URI of ``file`` (resolved once: features.real)."""
    return Path(features.real(file)).as_uri()


@tree_cache(maxsize=1024)
def _resolved(uri: str) -> str:
    """The resolved path of a document's URI."""
    return features.real(str(_path(uri)))


class EntrylintServer(LanguageServer):
    def __init__(self, runner=None):
        super().__init__("entrylint", __version__)
        self.settings = dict(DEFAULTS)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.engine = Engine(self._from_worker, **({"runner": runner} if runner else {}))
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._header_diags: dict[str, dict[Path, list]] = {}  # header -> analysed file -> Diags
        self._texts: dict[str, list[str]] = {}  # lines of files shown, for ranges
        self._shown: dict[str, tuple] = {}  # header -> what its diagnostics were made of when last sent

    # -- configuration --------------------------------------------------------
    def apply_settings(self, raw) -> None:
        """Take the editor's settings that are well formed; one message names
        those that are not (they keep their last value): a wrong type must
        not break every later analysis."""
        if isinstance(raw, dict):
            raw = raw.get("entrylint", raw)
            bad = []
            for k in DEFAULTS:
                if k in raw:
                    if _valid_setting(k, raw[k]):
                        self.settings[k] = raw[k]
                    else:
                        bad.append(f"{k}={raw[k]!r}"[:80])
            if bad:
                self.window_show_message(T.ShowMessageParams(
                    T.MessageType.Warning, f"entrylint: settings ignored (not valid): {', '.join(bad)}"))

    def config_for(self, path: Path) -> Config:
        """The workspace settings file (found from the workspace folder that
        holds ``path``, else from its folder, as the CLI finds it from the
        working folder) and the editor's settings."""
        from entrylint.source.settings import SettingsError, find_settings

        start = path.parent
        for folder in self.workspace.folders.values():
            root = _path(folder.uri)
            if path.is_relative_to(root):
                start = root
                break
        try:
            s = find_settings(start)
        except SettingsError as e:
            self.window_show_message(T.ShowMessageParams(T.MessageType.Error, f"entrylint: {e}"))
            s = None
        values = s.values if s is not None else {}
        prof = self.settings.get("profile") or values.get("profile") or "defconfig"
        profiles = (None,) if prof == "all" else (prof,)
        base = values.get("baseline")
        root = values.get("root")
        sel = values.get("select")
        return Config(profiles=profiles, select=tuple(sel) if sel else None,
                      ignore=tuple(values.get("ignore") or ()), rule_options=dict(values.get("rules") or {}),
                      baseline=(s.path.parent / base) if base and s is not None else None,
                      root=(s.path.parent / root) if root and s is not None else None)

    def profile_names(self, cfg: Config) -> tuple[str, ...]:
        from entrylint.api import ALL_PROFILES

        return ALL_PROFILES if cfg.profiles == (None,) else tuple(p for p in cfg.profiles if p)

    # -- jobs -----------------------------------------------------------------
    def submit(self, uri: str) -> None:
        self._timers.pop(uri, None)
        doc = self.workspace.get_text_document(uri)
        path = _path(uri)
        if path.suffix in SOURCE_SUFFIXES:
            self.engine.submit(Job(path, doc.source, doc.version, self.config_for(path)))
        elif path.suffix in HEADER_SUFFIXES:
            self.submit_includers(path)

    def submit_includers(self, header: Path) -> None:
        """A header shows the findings of the files that include it: those
        analysed already, else (when it is opened first) a few found beside it."""
        hf = features.real(str(header))
        known = self.engine.includers_of(hf)
        todo = known or _guess_includers(header)
        open_docs = {_resolved(u): u for u in self.workspace.text_documents}
        for src in todo[:3]:
            u = open_docs.get(features.real(str(src)))
            if u is not None:
                doc = self.workspace.get_text_document(u)
                self.engine.submit(Job(src, doc.source, doc.version, self.config_for(src)))
                continue
            try:
                text = src.read_text(encoding="utf-8", errors="surrogateescape")
            except OSError:
                continue
            self.engine.submit(Job(src, text, None, self.config_for(src)))
        if hf in self._header_diags:
            self._publish_header(hf, again=True)

    def debounce(self, uri: str) -> None:
        old = self._timers.pop(uri, None)
        if old is not None:
            old.cancel()
        delay = self.settings["debounceMs"] / 1000
        self._timers[uri] = asyncio.get_running_loop().call_later(delay, self.submit, uri)

    def _from_worker(self, res) -> threading.Event | None:
        """(On the engine's thread.)  ``res`` published on the event loop;
        the event is set once it is out."""
        if self.loop is None:
            return None
        out = threading.Event()

        def publish():
            try:
                self._publish(res)
            finally:
                out.set()

        self.loop.call_soon_threadsafe(publish)
        return out

    # -- publishing -------------------------------------------------------------
    def _lines(self, file: str) -> list[str]:
        for u in self.workspace.text_documents:
            if _resolved(u) == file:
                return self.workspace.get_text_document(u).lines
        got = self._texts.get(file)
        if got is None:
            try:
                got = Path(file).read_text(encoding="utf-8", errors="replace").splitlines()
            except OSError:
                got = []
            self._texts[file] = got
        return got

    def _diagnostic(self, d: features.Diag, lines_of: dict) -> T.Diagnostic:
        """``lines_of``: the lines of the files asked so far in this publishing
        (a document's are its text split again at each ask)."""
        lines = lines_of.get(d.file)
        if lines is None:
            lines = lines_of[d.file] = self._lines(d.file)
        text = lines[d.line - 1].rstrip("\r\n") if 0 < d.line <= len(lines) else ""
        start = min(max(d.col - 1, len(text) - len(text.lstrip())), len(text))
        href = features.rule_doc_uri(d.code)
        related = [T.DiagnosticRelatedInformation(
            T.Location(_uri(f), T.Range(T.Position(max(ln - 1, 0), 0), T.Position(max(ln - 1, 0), 0))), note)
            for f, ln, note in d.related]
        return T.Diagnostic(
            range=T.Range(T.Position(d.line - 1, start), T.Position(d.line - 1, max(len(text), start))),
            message=d.message, severity=SEVERITY.get(d.severity, T.DiagnosticSeverity.Information),
            code=d.code, source="entrylint", related_information=related or None,
            code_description=T.CodeDescription(href=href) if href else None,
            data={"slug": d.slug, "file": _uri(d.site[0]), "line": d.site[1]} if d.site else {"slug": d.slug})

    def _publish(self, res) -> None:
        if res.error:
            self.window_log_message(T.LogMessageParams(T.MessageType.Error, f"entrylint: {res.error}"))
        main = features.real(str(res.path))
        cfg = res.config or self.config_for(res.path)  # (the configuration the analysis was made under)
        by_file = features.diagnostics(res, self.profile_names(cfg))
        if self._is_open(main):
            lines_of: dict = {}
            self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
                _uri(main), [self._diagnostic(d, lines_of) for d in by_file.get(main, [])], version=res.version))
        touched = set()
        for hf, per in self._header_diags.items():
            if res.path in per:
                per.pop(res.path)
                touched.add(hf)
        for f, ds in by_file.items():
            if f != main:
                self._header_diags.setdefault(f, {})[res.path] = ds
                touched.add(f)
        for hf in sorted(touched):
            self._publish_header(hf)
        self.window_log_message(T.LogMessageParams(
            T.MessageType.Log, f"entrylint: {res.path.name} v{res.version}: {len(res.findings)} findings in "
                               f"{res.seconds * 1000:.0f} ms{' (cached)' if res.cached else ''}"
                               f"{' (no code changed: the last analysis, moved)' if res.reused else ''}"
                               f"{' (read ' + res.how + ')' if res.how and not res.cached else ''}"))

    def _publish_header(self, hf: str, again: bool = False) -> None:
        """The diagnostics of header ``hf``: those of every file analysed
        that includes it.  Sent when they differ from what was sent last
        (their findings, or the text of a line they mark: the ranges), or
        ``again``: an analysis of a file leaves most headers' diagnostics as
        they were, and the editor is not sent them again at every edit."""
        ds = [d for per in self._header_diags.get(hf, {}).values() for d in per]
        lines = self._lines(hf) if ds else []
        shown = (ds, [lines[d.line - 1] if 0 < d.line <= len(lines) else None for d in ds])
        if not again and self._shown.get(hf) == shown:
            return
        self._shown[hf] = shown
        lines_of: dict = {hf: lines}
        self.text_document_publish_diagnostics(T.PublishDiagnosticsParams(
            _uri(hf), [self._diagnostic(d, lines_of) for d in ds]))

    def _is_open(self, file: str) -> bool:
        return any(_resolved(u) == file for u in self.workspace.text_documents)

    async def result_for(self, uri: str):
        """The newest analysis of the document (waiting for the first one)."""
        path = _path(uri)
        if path.suffix not in SOURCE_SUFFIXES:
            return None
        waited = 0.0
        while True:
            res = self.engine.result(path)
            if res is not None or waited >= WAIT or not (self.engine.busy(path) or uri in self._timers):
                return res
            await asyncio.sleep(0.05)
            waited += 0.05


def _guess_includers(header: Path) -> list[Path]:
    """The ``.S`` files beside a header, and in its tree's arch/x86/entry,
    that ``#include`` it by name."""
    from entrylint.source.tree import find_root

    root = find_root(header)
    dirs = [header.parent] + ([root / "arch" / "x86" / "entry"] if root else [])
    out = []
    for d in dict.fromkeys(dirs):
        for f in sorted(d.glob("*.S")) if d.is_dir() else ():
            try:
                text = f.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            if any(ln.lstrip().startswith("#") and "include" in ln and header.name in ln
                   for ln in text.splitlines()):
                out.append(f)
    return out


def build_server(runner=None) -> EntrylintServer:
    ls = EntrylintServer(runner)

    @ls.feature(T.INITIALIZE)
    def initialize(server: EntrylintServer, params: T.InitializeParams):
        server.apply_settings(params.initialization_options)

    @ls.feature(T.INITIALIZED)
    async def initialized(server: EntrylintServer, params: T.InitializedParams):
        server.loop = asyncio.get_running_loop()
        # the rule documentation (hover, links) is read once, off the event loop
        server.loop.run_in_executor(None, features.rule_infos)

    @ls.feature(T.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(server: EntrylintServer, params: T.DidChangeConfigurationParams):
        server.apply_settings(params.settings)
        for uri in list(server.workspace.text_documents):
            server.submit(uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(server: EntrylintServer, params: T.DidOpenTextDocumentParams):
        server.loop = server.loop or asyncio.get_running_loop()
        server.submit(params.text_document.uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(server: EntrylintServer, params: T.DidChangeTextDocumentParams):
        uri = params.text_document.uri
        server.engine.edited(_path(uri), params.text_document.version)
        server.debounce(uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_SAVE, T.SaveOptions(include_text=False))
    def did_save(server: EntrylintServer, params: T.DidSaveTextDocumentParams):
        uri = params.text_document.uri
        # a saved header: its includers read it from disk, their cache keys change
        server._texts.pop(_resolved(uri), None)
        server.submit(uri)

    @ls.feature(T.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(server: EntrylintServer, params: T.DidCloseTextDocumentParams):
        t = server._timers.pop(params.text_document.uri, None)
        if t is not None:
            t.cancel()
        server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(params.text_document.uri, []))
        server._shown.pop(_resolved(params.text_document.uri), None)  # (cleared: a header's are sent again)

    @ls.feature(T.TEXT_DOCUMENT_HOVER)
    async def hover(server: EntrylintServer, params: T.HoverParams):
        doc = server.workspace.get_text_document(params.text_document.uri)
        pos = params.position
        word = features.word_at(doc.source, pos.line, pos.character)
        text = features.rule_hover(word) if word else None
        if text is None:
            res = await server.result_for(doc.uri)
            an = res.analysis if res is not None else None
            if an is None:
                return None
            file = _resolved(doc.uri)
            line = res.analysed_line(pos.line + 1)  # an edit of comments only keeps the analysis
            if line is None:
                return None
            parts = [p for p in (features.findings_hover(res.findings, file, pos.line + 1),
                                 features.expansion_hover(an, file, line),
                                 features.state_hover(an, file, line)) if p]
            text = "\n\n---\n\n".join(parts) if parts else None
        if text is None:
            return None
        return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=text))

    @ls.feature(T.TEXT_DOCUMENT_DEFINITION)
    async def definition(server: EntrylintServer, params: T.DefinitionParams):
        doc = server.workspace.get_text_document(params.text_document.uri)
        res = await server.result_for(doc.uri)
        an = res.analysis if res is not None else None
        got = features.definition(doc.source, params.position.line, params.position.character,
                                  _path(doc.uri), an, res.shown_line if res is not None else features._same)
        if got is None:
            return None
        file, line = got
        return T.Location(_uri(file), T.Range(T.Position(line - 1, 0), T.Position(line - 1, 0)))

    @ls.feature(T.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(server: EntrylintServer, params: T.DocumentSymbolParams):
        doc = server.workspace.get_text_document(params.text_document.uri)
        res = await server.result_for(doc.uri)
        lines = doc.lines
        out = []
        for s in features.document_symbols(doc.source, _path(doc.uri), res.analysis if res else None,
                                           res.shown_line if res else features._same):
            end_len = len(lines[s.end].rstrip("\r\n")) if s.end < len(lines) else 0
            rng = T.Range(T.Position(s.start, 0), T.Position(s.end, end_len))
            out.append(T.DocumentSymbol(name=s.name, detail=s.detail, range=rng, selection_range=rng,
                                        kind=T.SymbolKind.Event if s.entry else T.SymbolKind.Function))
        return out

    @ls.feature(T.TEXT_DOCUMENT_CODE_ACTION,
                T.CodeActionOptions(code_action_kinds=[T.CodeActionKind.QuickFix]))
    def code_action(server: EntrylintServer, params: T.CodeActionParams):
        out = []
        for d in params.context.diagnostics:
            if d.source != "entrylint" or not d.code or not isinstance(d.data, dict):
                continue
            uri, line = d.data.get("file", params.text_document.uri), int(d.data.get("line", d.range.start.line + 1))
            try:
                text = server.workspace.get_text_document(uri).source
            except Exception:  # noqa: BLE001 - a file not open in the editor
                text = _path(uri).read_text(encoding="utf-8", errors="replace")
            new = features.suppression_line(text, line, str(d.code))
            edit = T.TextEdit(T.Range(T.Position(line - 1, 0), T.Position(line - 1, 0)), new)
            out.append(T.CodeAction(title=f"Suppress {d.code} here (entrylint: ignore with a reason)",
                                    kind=T.CodeActionKind.QuickFix, diagnostics=[d],
                                    edit=T.WorkspaceEdit(changes={uri: [edit]})))
        return out

    @ls.feature(T.TEXT_DOCUMENT_INLAY_HINT, T.InlayHintOptions())
    async def inlay_hint(server: EntrylintServer, params: T.InlayHintParams):
        if not server.settings.get("inlayHints"):
            return []
        res = await server.result_for(params.text_document.uri)
        if res is None or res.analysis is None:
            return []
        file = _resolved(params.text_document.uri)
        return [T.InlayHint(position=T.Position(ln, col), label=label, padding_left=True)
                for ln, col, label in features.inlay_hints(res.analysis, file, res.text, params.range.start.line,
                                                           params.range.end.line, res.shown_line)]

    return ls


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(prog="entrylint lsp", description="The entrylint language server (stdio).")
    ap.add_argument("--stdio", action="store_true", help="talk LSP on stdin/stdout (the default and only transport)")
    ap.add_argument("--log", metavar="FILE", help="write the server's log to FILE")
    ap.add_argument("--no-cache", action="store_true",
                    help="do not read the tree's facts a check of the command line stored in the cache folder")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="processes for a check (default: the cores); 1: the first analysis of a tree "
                         "makes its facts in the server's own process")
    args = ap.parse_args(argv)
    if args.log:
        logging.basicConfig(filename=args.log, level=logging.INFO)
    if not args.no_cache:
        from entrylint import cache

        # the tree's facts a check of the command line stored are read (a
        # first analysis then skips the work that is the same for every file
        # of the tree: about 0.2 s of 6.12's entry_64.S); the server stores
        # none (cache.facts_read_only)
        cache.facts_enabled = cache.facts_read_only = True
    if args.jobs > 1:
        from entrylint import ahead, apart

        # before any thread: the process apart that the first analysis of a
        # tree makes its facts and C answers in is forked from it (ahead.py)
        apart.start_forker(preload=ahead.IMPORTS)
    build_server().start_io()
    return 0
