"""The language server (entrylint lsp) driven by a real LSP client (pytest-lsp):
diagnostics on open/change/save, header diagnostics, hover, definition,
document symbols, the suppression code action, inlay hints, settings."""

from __future__ import annotations

import asyncio
import shutil
import sys
from pathlib import Path

import pytest

pytest.importorskip("pygls")
pytest_lsp = pytest.importorskip("pytest_lsp")
from lsprotocol import types as T  # noqa: E402
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities  # noqa: E402

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "lsp"


@pytest.fixture
def work(tmp_path):
    """A copy of the fixtures (tests edit and save files)."""
    for f in FIX.iterdir():
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _server(settings: dict | None = None):
    return ClientServerConfig(server_command=[sys.executable, "-m", "entrylint", "lsp"])


@pytest_lsp.fixture(config=_server())
async def client(lsp_client: LanguageClient, request):
    settings = getattr(request, "param", None) or {"debounceMs": 50}
    tmp = request.getfixturevalue("work")
    await lsp_client.initialize_session(T.InitializeParams(
        capabilities=client_capabilities("neovim"), root_uri=tmp.as_uri(),
        workspace_folders=[T.WorkspaceFolder(tmp.as_uri(), "fx")],
        initialization_options={"entrylint": settings}))
    yield
    await lsp_client.shutdown_session()


async def _diags(client: LanguageClient, uri: str, pred=lambda ds: True, timeout: float = 60):
    async def wait():
        while True:
            ds = client.diagnostics.get(uri)
            if ds is not None and pred(ds):
                return ds
            await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return await asyncio.wait_for(wait(), timeout)


def _open(client: LanguageClient, path: Path, version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(T.DidOpenTextDocumentParams(
        T.TextDocumentItem(uri, "asm", version, path.read_text())))
    return uri


def _line_of(path: Path, needle: str) -> int:
    """0-based line of the first line containing needle."""
    return next(i for i, s in enumerate(path.read_text().splitlines()) if needle in s)


async def test_diagnostics_on_open_with_doc_link_and_related(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    ds = await _diags(client, uri, lambda ds: len(ds) > 0)
    el201 = [d for d in ds if d.code == "EL201"]
    assert len(el201) == 1
    d = el201[0]
    assert d.range.start.line == _line_of(src, "TRACE_THEN_SWITCH scratch_reg")
    assert d.severity == T.DiagnosticSeverity.Error and d.source == "entrylint"
    assert d.code_description is not None and d.code_description.href.endswith("c_call_user_cr3.py")
    # the path from the entry point and the macro body line are related locations
    notes = [(Path(r.location.uri).name, r.message) for r in d.related_information]
    assert any("swapgs" in m for _, m in notes)
    assert any(n == "switch_cr3.h" and "TRACE_THEN_SWITCH" in m for n, m in notes)


async def test_header_shows_findings_of_its_macros(client: LanguageClient, work: Path):
    src, hdr = work / "entry_lsp.S", work / "switch_cr3.h"
    _open(client, src)
    ds = await _diags(client, hdr.as_uri(), lambda ds: any(d.code == "EL201" for d in ds))
    d = next(d for d in ds if d.code == "EL201")
    assert d.range.start.line == _line_of(hdr, "call\ttrace_hardirqs_off")
    inv = _line_of(src, "TRACE_THEN_SWITCH scratch_reg") + 1
    assert f"invoked at entry_lsp.S:{inv}" in d.message
    assert d.related_information[0].location.uri == src.as_uri()
    assert d.related_information[0].location.range.start.line == inv - 1


async def _analysed(client: LanguageClient, name: str, version: int, timeout: float = 60) -> None:
    """Wait for the server's log line of the analysis of ``name`` at
    ``version``: it is written after every diagnostic of that analysis."""
    async def wait():
        while not any(m.message.startswith(f"entrylint: {name} v{version}:") for m in client.log_messages):
            await client.wait_for_notification(T.WINDOW_LOG_MESSAGE)
    await asyncio.wait_for(wait(), timeout)


async def test_header_diagnostics_sent_again_only_when_changed(client: LanguageClient, work: Path):
    src, hdr = work / "entry_lsp.S", work / "switch_cr3.h"
    uri, huri = _open(client, src), hdr.as_uri()
    await _diags(client, huri, lambda ds: any(d.code == "EL201" for d in ds))
    await _analysed(client, src.name, 1)
    text = src.read_text()

    def change(version: int, body: str) -> None:
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=version, uri=uri),
            [T.TextDocumentContentChangeWholeDocument(body)]))

    # an edit after the invocation: the header's diagnostics are what they were, and not sent
    del client.diagnostics[huri]
    change(2, text + "\tnop\n")
    await _analysed(client, src.name, 2)
    assert huri not in client.diagnostics
    # a line put in before the invocation: the message names its new line
    del client.diagnostics[uri]
    change(3, "\n" + text)
    await _analysed(client, src.name, 3)
    inv = _line_of(src, "TRACE_THEN_SWITCH scratch_reg") + 2
    assert any(f"invoked at entry_lsp.S:{inv}" in d.message for d in client.diagnostics[huri])
    # the header opened and closed: its diagnostics cleared, then sent at the next analysis
    _open(client, hdr)
    client.text_document_did_close(T.DidCloseTextDocumentParams(T.TextDocumentIdentifier(huri)))
    await _diags(client, huri, lambda ds: not ds)
    change(4, "\n" + text + "\tnop\n")
    await _analysed(client, src.name, 4)
    assert any(d.code == "EL201" for d in client.diagnostics[huri])


async def test_header_opened_first_finds_its_includer(client: LanguageClient, work: Path):
    hdr = work / "switch_cr3.h"
    _open(client, hdr)
    ds = await _diags(client, hdr.as_uri(), lambda ds: any(d.code == "EL201" for d in ds))
    assert any("invoked at entry_lsp.S" in d.message for d in ds)


async def test_change_is_debounced_and_reanalysed(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri, lambda ds: any(d.code == "EL201" for d in ds))
    text = src.read_text()
    # typing: several versions quickly; the fix (no C call before the switch) is the last
    fixed = text.replace("TRACE_THEN_SWITCH scratch_reg=%rsp",
                         "movq\t%cr3, %rsp\n\tandq\t$~USER_PGTABLE_BIT, %rsp\n\tmovq\t%rsp, %cr3")
    for v, t in ((2, text + "\n"), (3, text + "\n\n"), (4, fixed)):
        client.text_document_did_change(T.DidChangeTextDocumentParams(
            T.VersionedTextDocumentIdentifier(version=v, uri=uri),
            [T.TextDocumentContentChangeWholeDocument(t)]))
    ds = await _diags(client, uri, lambda ds: not any(d.code == "EL201" for d in ds))
    assert not any(d.code == "EL201" for d in ds)
    assert any(d.code == "EL401" for d in ds)  # the switch back to the user CR3 is still there


async def test_save_reanalyses_after_header_change(client: LanguageClient, work: Path):
    src, hdr = work / "entry_lsp.S", work / "switch_cr3.h"
    uri = _open(client, src)
    await _diags(client, uri, lambda ds: any(d.code == "EL201" for d in ds))
    hdr.write_text(hdr.read_text().replace("\tcall\ttrace_hardirqs_off\n", ""))
    client.text_document_did_save(T.DidSaveTextDocumentParams(T.TextDocumentIdentifier(uri)))
    ds = await _diags(client, uri, lambda ds: not any(d.code == "EL201" for d in ds))
    assert not any(d.code == "EL201" for d in ds)


async def test_hover_macro_expansion_and_state(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri)
    ln = _line_of(src, "TRACE_THEN_SWITCH scratch_reg")
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(ln, 3)))
    v = h.contents.value
    # the diagnostics' rules on the line come first, with their documentation link
    assert v.startswith("- **EL201 c-call-user-cr3**") and "c_call_user_cr3.py" in v.split("\n")[0]
    assert "expansion of TRACE_THEN_SWITCH" in v
    assert "\tcall trace_hardirqs_off\n\tmovq %cr3, %rsp\n\tandq $~0x1000, %rsp\n" in v
    # \@ is resolved to the assembler's count (a number), not left as written
    assert ".Lswitched_\\@" not in v and ".Lswitched_" in v
    assert "before: (origin=user gs=kernel cr3=user stack=user" in v
    assert "cr3=kernel" in v.split("after:")[1]
    # a plain instruction line: the state and live registers
    ln = _line_of(src, "orq\t$USER_PGTABLE_BIT")
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(ln, 2)))
    v = h.contents.value
    assert "expansion of" not in v
    assert "before: (origin=user gs=kernel cr3=kernel stack=task" in v
    live_before, live_after = v.split("live:")[1].split("->")
    assert "%rdi" in live_before.split() and "%rdi" in live_after.split()


async def test_hover_rule_id_in_suppression(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    text = src.read_text().replace("\tswapgs\n", "\t/* entrylint: ignore[EL204] test */\n\tswapgs\n", 1)
    src.write_text(text)
    uri = _open(client, src)
    ln = _line_of(src, "ignore[EL204]")
    col = src.read_text().splitlines()[ln].index("EL204") + 2
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(ln, col)))
    assert h.contents.value.startswith("**EL204 user-stack-access**")


async def test_definition(client: LanguageClient, work: Path):
    src, hdr = work / "entry_lsp.S", work / "switch_cr3.h"
    uri = _open(client, src)
    await _diags(client, uri)
    lines = src.read_text().splitlines()

    async def go(needle, word):
        ln = _line_of(src, needle)
        col = lines[ln].index(word) + 1
        loc = await client.text_document_definition_async(T.DefinitionParams(
            T.TextDocumentIdentifier(uri), T.Position(ln, col)))
        return Path(loc.uri.removeprefix("file://")).name, loc.range.start.line

    assert await go("TRACE_THEN_SWITCH scratch", "TRACE_THEN_SWITCH") == ("switch_cr3.h", _line_of(hdr, ".macro TRACE"))
    assert await go("%gs:TSS_SP2", "TSS_SP2") == ("entry_lsp.S", _line_of(src, "#define TSS_SP2"))
    assert await go("jz\t1f", "1f") == ("entry_lsp.S", _line_of(src, "1:"))
    assert await go("jmp\t2f", "2f") == ("entry_lsp.S", _line_of(src, "2:"))
    assert await go("#include", "switch") == ("switch_cr3.h", 0)
    assert await go("SYM_CODE_START(entry", "SYM_CODE_START") == ("switch_cr3.h", _line_of(hdr, "#define SYM_CODE_START"))


async def test_definition_numeric_label_backwards(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    src.write_text(src.read_text().replace("\tjmp\t2f\n", "\tjmp\t1b\n"))
    uri = _open(client, src)
    ln = _line_of(src, "jmp\t1b")
    loc = await client.text_document_definition_async(T.DefinitionParams(
        T.TextDocumentIdentifier(uri), T.Position(ln, 6)))
    assert loc.range.start.line == _line_of(src, "1:")


async def test_document_symbols(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri)
    syms = await client.text_document_document_symbol_async(T.DocumentSymbolParams(T.TextDocumentIdentifier(uri)))
    s = next(s for s in syms if s.name == "entry_SYSCALL_64")
    assert s.range.start.line == _line_of(src, "SYM_CODE_START(")
    assert s.range.end.line == _line_of(src, "SYM_CODE_END(")
    assert s.kind == T.SymbolKind.Event and "entry point (syscall)" in s.detail


async def test_code_action_inserts_suppression(client: LanguageClient, work: Path):
    src, hdr = work / "entry_lsp.S", work / "switch_cr3.h"
    uri = _open(client, src)
    ds = await _diags(client, hdr.as_uri(), lambda ds: any(d.code == "EL201" for d in ds))
    d = next(d for d in ds if d.code == "EL201")
    # asked from the header, the suppression goes to the invocation site in the .S file
    acts = await client.text_document_code_action_async(T.CodeActionParams(
        T.TextDocumentIdentifier(hdr.as_uri()), d.range, T.CodeActionContext([d])))
    assert len(acts) == 1
    (edit,) = acts[0].edit.changes[uri]
    inv = _line_of(src, "TRACE_THEN_SWITCH scratch_reg")
    assert edit.range.start.line == inv and edit.new_text.startswith("\t/* entrylint: ignore[EL201] ")
    # applied, the finding is suppressed and the reason placeholder counts as a reason
    lines = src.read_text().splitlines(keepends=True)
    lines.insert(inv, edit.new_text)
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(version=2, uri=uri), [T.TextDocumentContentChangeWholeDocument("".join(lines))]))
    ds = await _diags(client, uri, lambda ds: not any(d.code == "EL201" for d in ds))
    assert not any(d.code in ("EL201", "EL912", "EL913") for d in ds)


async def test_inlay_hints_off_by_default(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri)
    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        T.TextDocumentIdentifier(uri), T.Range(T.Position(0, 0), T.Position(40, 0))))
    assert hints is not None and len(hints) == 0


@pytest.mark.parametrize("client", [{"inlayHints": True, "debounceMs": 50}], indirect=True)
async def test_inlay_hints_when_enabled(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri)
    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        T.TextDocumentIdentifier(uri), T.Range(T.Position(0, 0), T.Position(40, 0))))
    by_line = {h.position.line: h.label for h in hints}
    assert by_line[_line_of(src, "movq\t%rsp, %gs:TSS_SP2")] == "cr3=user gs=kernel"
    assert by_line[_line_of(src, "call\tdo_syscall_64")] == "cr3=kernel gs=kernel"
    assert _line_of(src, "SYM_CODE_START(") not in by_line  # no instruction there


async def test_workspace_settings_file_is_honoured(client: LanguageClient, work: Path):
    (work / ".entrylint.toml").write_text('ignore = ["EL201"]\n')
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    ds = await _diags(client, uri, lambda ds: len(ds) > 0)
    assert not any(d.code == "EL201" for d in ds) and any(d.code == "EL204" for d in ds)


@pytest.mark.parametrize("client", [{"profile": "all", "debounceMs": 50}], indirect=True)
async def test_profile_setting_all(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    ds = await _diags(client, uri, lambda ds: len(ds) > 0)
    # the PTI runtime gate finding does not hold under pti-off: the message says when it does
    assert any(d.code == "EL402" and "(when: max, defconfig)" in d.message for d in ds)


async def test_hover_after_a_comment_edit_uses_the_moved_lines(client: LanguageClient, work: Path):
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    await _diags(client, uri, lambda ds: len(ds) > 0)
    text = src.read_text().replace("\t.section", "/* a new comment\n   of two lines */\n\t.section", 1)
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(version=2, uri=uri), [T.TextDocumentContentChangeWholeDocument(text)]))
    lines = text.splitlines()
    ln = next(i for i, s in enumerate(lines) if "TRACE_THEN_SWITCH scratch" in s)
    ds = await _diags(client, uri, lambda ds: any(d.code == "EL201" and d.range.start.line == ln for d in ds))
    assert ds
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(ln, 3)))
    assert "expansion of TRACE_THEN_SWITCH" in h.contents.value
    # a line of the new comment has no state
    assert "of two lines" in lines[ln - 5]
    h = await client.text_document_hover_async(T.HoverParams(T.TextDocumentIdentifier(uri), T.Position(ln - 5, 3)))
    assert h is None or "state at" not in h.contents.value


async def test_tree_root_is_found_from_the_file(client: LanguageClient, kernel_tree_612: Path):
    """The workspace folder is not the tree: the tree root is searched upward
    from the file (as the CLI does), so calling.h and the tree's headers are
    read, and calling.h shows the finding its macro causes in entry_64.S."""
    src = kernel_tree_612 / "arch/x86/entry/entry_64.S"
    hdr = kernel_tree_612 / "arch/x86/entry/calling.h"
    uri = _open(client, src)
    ds = await _diags(client, uri, lambda ds: len(ds) > 0, timeout=300)
    assert not any(d.code in ("EL901", "EL902") for d in ds)  # includes found, macros known
    hds = await _diags(client, hdr.as_uri(), lambda ds: len(ds) > 0, timeout=60)
    assert all("invoked at entry_64.S:" in d.message for d in hds)


@pytest.mark.parametrize("client", [{"debounceMs": "fast", "profile": "bogus", "inlayHints": True}], indirect=True)
async def test_settings_of_the_wrong_kind_are_named_and_left_out(client: LanguageClient, work: Path):
    """A setting of the wrong type (a string for the debounce delay, a
    profile that does not exist) used to be taken as it came and raised in
    every later didChange; now one warning names them, they keep their
    defaults, and the well-formed ones (inlayHints) apply."""
    src = work / "entry_lsp.S"
    uri = _open(client, src)
    ds = await _diags(client, uri, lambda ds: len(ds) > 0)
    assert any(d.code == "EL201" for d in ds)
    text = src.read_text() + "\n"
    client.text_document_did_change(T.DidChangeTextDocumentParams(
        T.VersionedTextDocumentIdentifier(version=2, uri=uri), [T.TextDocumentContentChangeWholeDocument(text)]))
    await client.wait_for_notification(T.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    warned = [m.message for m in client.messages if m.type == T.MessageType.Warning]
    assert len(warned) == 1 and "debounceMs='fast'" in warned[0] and "profile='bogus'" in warned[0]
    assert "inlayHints" not in warned[0]
    hints = await client.text_document_inlay_hint_async(T.InlayHintParams(
        T.TextDocumentIdentifier(uri), T.Range(T.Position(0, 0), T.Position(40, 0))))
    assert hints
