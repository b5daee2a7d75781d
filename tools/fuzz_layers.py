"""The layers one fuzz input goes through (tools/fuzz.py): the lexers,
cpp, GNU as, the whole pipeline in every format, the patch face, the
language server's incremental path; each layer's output as a digest, and
the CPU seconds of each entrylint call (LAYER_SECONDS)."""

from __future__ import annotations

import hashlib
import random
import sys
import time
from array import array
from operator import attrgetter, is_
from pathlib import Path

from fuzz_inputs import FIXTURE


def run_layers(cls: str, text, path, index: int, share: float, asm_share: float, tmp: Path):
    """Run one input through the layers: {layer: digest}."""
    from entrylint.cpp import CppOptions, preprocess_text
    from entrylint.cpp.lexer import lex_file
    from entrylint.cpp.types import plain_lines
    from entrylint.gas import expand
    from entrylint.gas import lex as glex

    out = {}
    LAYER_SECONDS.clear()
    if cls == "bytes":
        from entrylint.program.decode import decode_bytes

        for mode in (64, 32, 16):
            out[f"decode{mode}"] = canon(timed(f"decode{mode}", decode_bytes, text, mode))
        if _pick(index, share):
            src = ".byte " + ", ".join(f"0x{b:02x}" for b in text) + "\nswapgs\nsysretq\n" if text else "nop\n"
            out["pipeline"] = pipeline(src, tmp / "bytes.S", assemble=True)
        return out
    if cls == "patch":
        return review_patch(text, _pick(index // 7, asm_share / share if share else 0))
    if cls == "size":  # what a user's run does with it: the whole pipeline, the layers inside it
        out["pipeline"] = pipeline(text, tmp / "size.S", assemble=_pick(index // 7, asm_share / share if share else 0))
        return out
    lx = timed("cpp-lex", lex_file, text, "fuzz.S")
    out["cpp-lex"] = digest([[t.text for t in ln] for ln in lx.lines], lx.problems)
    g = []
    for ln in text.split("\n"):
        s = glex.strip_comments(ln)
        for col, st in glex.split_statements(s):
            labels, rest, off = glex.peel_labels(st)
            p = glex.classify(rest)
            g.append((col, labels, off, p.kind, p.name, p.args, [a.text for a in glex.split_args(p.args)]))
    out["gas-lex"] = digest(g)
    pp = timed("cpp", preprocess_text, text, str(tmp / "fuzz.S"), CppOptions())
    out["cpp"] = digest([(ln.text, ln.segments, ln.cond) for ln in pp.lines], pp.problems, list(pp.macros))
    raw = plain_lines(text, "fuzz.S")
    r = timed("gas", expand, raw)
    out["gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
    if [ln.text for ln in pp.lines] != [ln.text for ln in raw if ln.text.strip()]:
        r = timed("cpp+gas", expand, pp.lines)
        out["cpp+gas"] = digest(r.statements, r.problems, sorted(r.symbols.items()))
    if _pick(index, share):
        out["pipeline"] = pipeline(text, tmp / "fuzz.S", assemble=_pick(index // 7, asm_share / share))
    if _pick(index + 1, share / 4):
        out["incremental"] = incremental(text, index, tmp / "inc.S")
    if path is not None and _pick(index, share / 20):  # the real file's own tree: its headers
        root = path.parents[3] if "entry" in path.parts or "kernel" in path.parts else None
        if root is not None and (root / "arch").is_dir():
            out["pipeline-tree"] = pipeline(text, path, assemble=False, root=root)
    return out


PATCH_FORMATS = ("text", "json", "b4-json", "sarif", "gcc", "github")


def review_patch(text: str, assemble: bool) -> dict:
    """Patch mode on one input, as ``entrylint --patch - --root FIXTURE``
    runs it (the face's own code: stdin, the limits, every format, the
    one-line message of exit 2): {format: digest of stdout, stderr, exit}.
    The review is made once and rendered in each format."""
    from entrylint.patch import review as rv

    out = {}
    data = text.encode("utf-8", "surrogateescape")
    real, memo = rv.review, []

    def review_once(*args, **kw):
        # a review that raises (a refused series: exit 2) is remembered too:
        # else each format ran it again
        if not memo:
            try:
                memo.append((real(*args, **kw), None))
            except Exception as e:  # noqa: BLE001 - raised again, as the real review would
                memo.append((None, e))
        got, exc = memo[0]
        if exc is not None:
            raise exc
        return got

    rv.review = review_once
    try:
        for fmt in PATCH_FORMATS:
            out[f"patch-{fmt}"] = _patch_face(fmt, data, assemble)
    finally:
        rv.review = real
    return out


def _patch_face(fmt: str, data: bytes, assemble: bool) -> str:
    import contextlib
    import io

    from entrylint.faces import cli

    argv = ["--patch", "-", "--root", str(FIXTURE), "--format", fmt, "--no-cache", "--profile", "max"]
    argv += [] if assemble else ["--no-assemble"]
    argv += ["--show-existing"] if fmt in ("text", "json") else []
    so, se = io.StringIO(), io.StringIO()
    stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors="surrogateescape")
    try:
        with contextlib.redirect_stdout(so), contextlib.redirect_stderr(se):
            # the bound is per entrylint call: each format is its own layer
            code = timed(f"patch-{fmt}", cli.cmd_check, argv)
    finally:
        sys.stdin = stdin
    err = se.getvalue()
    if code == 2 and ("internal error" in err or "Traceback" in err):
        raise RuntimeError(f"patch mode, --format {fmt}: {err.strip()}")
    if code not in (0, 1, 2) or (code == 2 and len(err.strip().splitlines()) != 1):
        raise RuntimeError(f"patch mode, --format {fmt}: exit {code}, stderr {err!r}")
    return digest([so.getvalue(), err, code])


# CPU seconds of each entrylint call of the input in hand (the harness's own
# digests are not counted: the 10 s bound is entrylint's)
LAYER_SECONDS: dict[str, float] = {}


def timed(name: str, fn, *args, **kw):
    c0 = time.process_time()
    try:
        return fn(*args, **kw)
    finally:
        LAYER_SECONDS[name] = LAYER_SECONDS.get(name, 0.0) + time.process_time() - c0


def digest(*seqs) -> str:
    """sha256 of the reprs of the items, one at a time (an expansion's repr
    as one string would cost more memory than the expansion).

    A statement (a problem too: an item with a kind and a trace) is written
    as the repr of its fields but the trace, then its trace as the numbers
    of its frames: each distinct frame repr is written once, where it is
    first met, with the next number.  Every frame of every trace can be read
    back from the stream, in order, so two outputs give the same digest
    exactly when they would give the same reprs, and the stream follows the
    reprs alone, never which objects are shared.  But the work per
    statement is small: the reprs of a field value met before (a location,
    a kind) and of a frame are made once, and a deep trace's frames but the
    last are those of the statement before or of a head met before (the
    same objects: checked, then not read again); a deep expansion is
    thousands of statements of a hundred frames each."""
    h = hashlib.sha256()
    num: dict[int, int] = {}  # id(frame) -> the number of its repr (the frames live as long as seqs)
    numbered: dict[bytes, int] = {}  # a frame's repr -> its number (equal frames, equal numbers)
    reprs: dict[int, tuple[object, str]] = {}  # id(value) -> (the value, kept alive: the id stays its own; repr)

    def numbers(frames: tuple) -> bytes:
        try:
            return array("I", map(num.__getitem__, map(id, frames))).tobytes()
        except KeyError:  # frames not met yet: number them (a repr met for the first time goes into the stream)
            for fr in frames:
                if id(fr) not in num:
                    b = repr(fr).encode("utf-8", "surrogateescape")
                    n = numbered.get(b)
                    if n is None:
                        n = numbered[b] = len(numbered)
                        h.update(b"\2%d\0" % len(b))
                        h.update(b)
                    num[id(fr)] = n
            return array("I", map(num.__getitem__, map(id, frames))).tobytes()

    heads: dict[int, tuple[tuple, bytes]] = {}  # id of a head's last frame -> the head and its numbers
    for seq in seqs:
        for x in seq:
            trace = getattr(x, "trace", None)
            if isinstance(trace, tuple) and hasattr(x, "kind"):
                rs = []  # repr(the fields), with the reprs of values met before taken from `reprs`
                for v in _fields(x):
                    if type(v) is str:
                        rs.append(repr(v))
                    else:
                        got = reprs.get(id(v))
                        if got is None or got[0] is not v:
                            got = reprs[id(v)] = (v, repr(v))
                        rs.append(got[1])
                h.update(("(" + rs[0] + ",)" if len(rs) == 1 else "(" + ", ".join(rs) + ")")
                         .encode("utf-8", "surrogateescape"))
                if len(trace) < 8:
                    ns = numbers(trace)
                else:  # the head (every frame but the last): met before, or a head met before and a frame or two
                    p = trace[:-1]
                    got = heads.get(id(p[-1]))
                    if got is not None and len(got[0]) == len(p) and all(map(is_, p, got[0])):
                        ns = got[1]
                    else:
                        ns = None
                        for k in range(2, min(len(p), 8) + 1):
                            up = heads.get(id(p[-k]))
                            if up is not None and len(up[0]) == len(p) - k + 1 and all(map(is_, p, up[0])):
                                ns = up[1] + numbers(p[1 - k:])
                                break
                        if ns is None:
                            ns = numbers(p)
                        if len(heads) > 256:
                            heads.clear()
                        heads[id(p[-1])] = (p, ns)
                    ns += numbers(trace[-1:])
                h.update(b"\3%d\0" % len(ns))
                h.update(ns)
            else:
                h.update(repr(x).encode("utf-8", "surrogateescape"))
            h.update(b"\0")
        h.update(b"\1")
    return h.hexdigest()


_STMT_FIELDS = ("kind", "name", "args", "section", "cond", "cpp_macros", "message", "location", "trace")
_GETTERS: dict[type, object] = {}


def _fields(x) -> tuple:
    """The values of x's fields of _STMT_FIELDS (those it has) but its trace."""
    get = _GETTERS.get(type(x))
    if get is None:
        if hasattr(x, "__dict__"):  # attributes of its own: ask the object each time
            return tuple(getattr(x, f) for f in _STMT_FIELDS if f != "trace" and hasattr(x, f))
        names = [f for f in _STMT_FIELDS if f != "trace" and hasattr(x, f)]  # slots: the same in every object
        get = _GETTERS[type(x)] = (lambda y: ()) if not names else (
            (lambda y, g=attrgetter(names[0]): (g(y),)) if len(names) == 1 else attrgetter(*names))
    return get(x)


def canon(x):
    """A value with its sets sorted (a repr of a set follows the hash seed;
    the fuzzer compares outputs, not set iteration order)."""
    import dataclasses

    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return "%s(%s)" % (type(x).__name__, ", ".join(f"{f.name}={canon(getattr(x, f.name))}"
                                                      for f in dataclasses.fields(x)))
    if isinstance(x, (set, frozenset)):
        return "{" + ", ".join(sorted(canon(v) for v in x)) + "}"
    if isinstance(x, (list, tuple)):
        return "[" + ", ".join(canon(v) for v in x) + "]"
    if isinstance(x, dict):
        return "{" + ", ".join(sorted(f"{canon(k)}: {canon(v)}" for k, v in x.items())) + "}"
    return repr(x)


def _pick(index: int, share: float) -> bool:
    if share <= 0:
        return False
    return int(hashlib.sha256(str(index).encode()).hexdigest()[:8], 16) < share * 0x100000000


def pipeline(text: str, path: Path, assemble: bool, root: Path | None = None) -> str:
    """The whole pipeline on one input, rendered in every format."""
    from entrylint import api
    from entrylint.report import expand as rexp, explain as rexpl, findings_json, gcc, github, sarif, text as rtext

    opts = api.Options(assemble=assemble, root=root)  # every profile, as the CLI
    res = timed("pipeline-tree" if root else "pipeline", api.check, path, opts, text=text)
    rs = [(res.analysis.expansion.root if res.analysis else None, f) for f in res.findings]
    parts = [findings_json.render(rs, 1, 1), sarif.render(rs, 1, 1, root=root), gcc.render(rs),
             github.render(rs), rtext.render(rs, 1, 1)]
    if res.analysis is not None:
        parts.append(rexp.to_text(res.analysis.expansion))
        parts.append(rexpl.to_text(res.analysis, None))
    return digest(parts)


def incremental(text: str, index: int, path: Path) -> str:
    """The language server's path on one input: ``text`` read, then one
    line-wise edit of it (tools/incremental_check.py's, drawn from ``index``)
    read again incrementally, which must give what a run from the start
    gives (``incremental.outcome``); a difference is raised (a crash of this
    layer, replayable).  The digest of the edited text's findings."""
    from incremental_check import edit

    from entrylint import api
    from entrylint.incremental import Sessions, outcome

    opts = api.Options(profile="defconfig", assemble=False)
    edited = "".join(edit(text.splitlines(keepends=True) or [""], random.Random(index))[0])
    sessions = Sessions()
    # each call timed as its own (the bound is per entrylint call: the three
    # as one made an input of 4-5 s a call a hang, seed 347 macro:177)
    timed("incremental-open", api.check, path, opts, text=text, incremental=sessions)
    inc = timed("incremental", api.check, path, opts, text=edited, incremental=sessions)
    full = timed("incremental-start", api.check, path, opts, text=edited)
    if outcome(inc) != outcome(full):
        how = sessions.session(path, opts)[0].last
        raise AssertionError(f"the incremental analysis differs from a run from the start ({how})")
    return digest([(f.id, f.location, f.message) for f in full.findings])
