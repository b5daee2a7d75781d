"""The assembler interface: GNU as assembles, iced-x86 decodes (deps.md §1).

This module (with its decoder half ``decode_iced.py``) is the only place that
runs ``as``, imports iced_x86 or compares mnemonic strings.

* ``Decoder.infos(texts, modes)`` answers ``InsnInfo`` for single instruction
  texts, each in its code mode (16, 32 or 64: ``.code16``/``.code32``/
  ``.code64``; see ``code_mode``), assembling every text not yet cached in one
  ``as --64`` run (the batch switches mode with ``.codeNN`` directives) and
  decoding with iced-x86 in the same mode.
* ``is_prefix(word)`` says whether a statement is a prefix that as applies to
  the next instruction (``rep`` on a line of its own, before ``movsb``).
* ``decode_bytes(data, mode)`` decodes machine code written as data
  (``.byte 0xf3,0x0f,0x01,0xca``: ERETU for binutils that lack the
  mnemonic) into the ``InsnInfo`` of each instruction, without ``as``.
* ``run_as`` runs GNU as under limits; ``program/layout.py`` assembles a
  whole flattened program with it (``--layout``, the objdump oracle).

Nothing here raises on bad input: errors come back as ``(index, message)``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Mapping, Sequence

from entrylint.program.decode_iced import PREFIXES, iced_version, split_instructions
from entrylint.program.decode_iced import decode_bytes as _decode_one
from entrylint.program.decode_iced import is_known_mnemonic as _is_known
from entrylint.program.decode_iced import is_prefix as _is_prefix
from entrylint.program.decode_table import DiskTable
from entrylint.program.effects import InsnInfo
from entrylint.source.cachedir import cache_root
from entrylint.source.reader import scratch_dir
from entrylint.source.record import data

AS_TIMEOUT = 60.0
_CACHE_SCHEMA = 3  # 2: entries keyed by code mode, then text; 3: not the answers of batches a stray quote shifted
DUMMY_SYMBOL = "__entrylint_sym"
STAND_IN_VALUE = 8  # not 0x1000: `bt $X86_FEATURE_PTI, %rax` needs an imm8

_LIST_LINE = re.compile(r"^ *(\d+) (.*)$")
_ERROR_LINE = re.compile(r"^(?P<file>[^:\n]*):(?P<line>\d+): (?P<kind>Error|Warning): (?P<msg>.*)$")
_ERROR_NOLINE = re.compile(r"^(?P<file>[^:\n]*): Error: (?P<msg>.*)$")
# `1f`, `.Lfoo`, and `$1f` (an immediate), but not `a$1f` (one symbol name)
_LOCAL_OR_DOTL = re.compile(
    r"(?:(?<![\w.$%])|(?<=(?<![\w.])\$))(?:\d+[fb]|\.L[\w.$]*)(?![\w.$])"
)
_MAY_HAVE_LOCAL = re.compile(r"\d[fb]|\.L")  # a cheap test before the one above
# a symbol name, also right after the `$` of an immediate; not `.` (the
# location counter), `%reg` or the `GOTPCREL` of `sym@GOTPCREL`
_IDENT = re.compile(r"(?:(?<![\w.$%@\\])|(?<=(?<![\w.])\$))([A-Za-z_.][\w.$]*)")
# `sym@GOTOFF`, `sym@PLT`: relocation operators; `as --64` refuses the 32-bit
# ones (GOTOFF: "8-byte relocation cannot be applied to 4-byte field")
_RELOC_SUFFIX = re.compile(r"@[A-Za-z]\w*")

# Code modes and the directives that select them.  `.code16gcc` is `.code16`
# with 32-bit push/call/ret (as adds 0x66); iced decodes either in 16-bit mode.
MODES: tuple[int, ...] = (16, 32, 64)
_MODE_DIRECTIVES = {".code16": 16, ".code16gcc": 16, ".code32": 32, ".code64": 64}
_DIRECTIVE_OF_MODE = {16: ".code16", 32: ".code32", 64: ".code64"}


def is_known_mnemonic(word: str) -> bool:
    """Whether ``word`` (the first word of a statement) is an instruction or
    prefix that GNU as knows in AT&T syntax, without assembling: iced's
    mnemonics, with b/w/l/q size suffixes, condition-code aliases (``jz``)
    and AT&T-only spellings (``movzbl``, ``movslq``, ``cltq``, ``cqto``)."""
    return _is_known(word)


def is_prefix(word: str) -> bool:
    """Whether ``word`` (the first word of a statement) is an instruction prefix
    that GNU as accepts on a line of its own and applies to the next
    instruction: ``rep``/``repe``/``repz``/``repne``/``repnz``, ``lock``,
    ``notrack``, ``bnd``, ``xacquire``/``xrelease``, ``data16``/``data32``,
    ``addr16``/``addr32``, segment overrides (``cs`` ... ``ss``), ``rex``,
    ``rex64`` and ``rex.W`` ... ``rex.WRXB``.  Pseudo prefixes (``{disp32}``,
    ``{vex}``) are not: as wants them on the instruction's line.  Such a
    statement is merged with the next instruction (``rep; movsb`` ->
    ``rep movsb``) before ``Decoder.infos``."""
    return _is_prefix(word)


def decode_bytes(data: bytes, mode: int = 64) -> list[InsnInfo] | None:
    """The instructions that ``data`` encodes in code mode ``mode`` (16, 32
    or 64), in order, or None unless the bytes are a whole number of valid
    instructions (``0f`` alone, ``2e`` alone: None).

    Each ``InsnInfo`` has the fields an assembled text gets (flow, registers,
    flags, op, imm, ...); its ``text`` is iced's AT&T rendering
    (``eretu``, ``mov %rsp,%rbp``), split it with ``split_opcode``.  Two
    differences: immediates and displacements are the encoded values (bytes
    hold no symbol), and ``target`` is None: a branch written as bytes has a
    displacement, not a label to resolve."""
    parts = split_instructions(bytes(data), mode)
    if parts is None:
        return None
    out: list[InsnInfo] = []
    for raw, text in parts:
        _, operands = split_opcode(text)
        info = _decode_one(text, operands, raw, mode)
        if not isinstance(info, InsnInfo):
            return None
        out.append(replace(info, target=None) if info.target is not None else info)
    return out


def code_mode(directive: str) -> int | None:
    """The code mode a ``.code16``/``.code16gcc``/``.code32``/``.code64``
    directive selects, or None for any other word."""
    return _MODE_DIRECTIVES.get(directive.strip().lower())


def is_unknown_mnemonic_message(message: str) -> bool:
    """Whether an assembler message says the instruction name is unknown."""
    return "no such instruction" in message


def normalize(text: str) -> str:
    """The cache key of an instruction text: whitespace collapsed, the first
    word lower-cased."""
    words = text.replace("\n", " ").split()
    if not words:
        return ""
    return " ".join([words[0].lower(), *words[1:]])


def split_opcode(text: str) -> tuple[str, str]:
    """Split ``lock incl (%rax)`` into (``lock incl``, ``(%rax)``)."""
    rest = text.strip()
    head: list[str] = []
    while rest:
        word, _, tail = rest.partition(" ")
        word = word.rstrip(";")
        head.append(word)
        rest = tail.strip()
        if word.lower() not in PREFIXES:  # is_prefix(), inlined: a hot path
            break
    return " ".join(head), rest


def standalone(text: str) -> str:
    """Make one instruction assemble on its own: numeric local references and
    ``.L`` labels become an external dummy symbol.  Registers, the mnemonic
    and operand shapes are untouched, so the decoded effects are the same.
    A ``/*`` comment is cut off: left open, it would swallow the next lines of
    the batch."""
    opcode, operands = split_opcode(text.split("/*", 1)[0])
    if not operands:
        return opcode
    if _MAY_HAVE_LOCAL.search(operands):
        operands = _LOCAL_OR_DOTL.sub(DUMMY_SYMBOL, operands)
    return f"{opcode} {operands}"


def _identifiers(text: str) -> set[str]:
    """Every symbol-like name in the operands of ``standalone(text)``, the
    dummy symbol included."""
    _, operands = split_opcode(standalone(text))
    return {m for m in _IDENT.findall(operands) if m != "."}


# --- running as ----------------------------------------------------------------


@data(frozen=True, slots=True)
class _Run:
    listing: dict[int, tuple[str | None, bytes]]  # line number -> (address, bytes)
    errors: list[tuple[int, str]]  # (line number or -1, message)
    failed: str | None = None  # as could not be run at all


def find_assembler() -> str | None:
    """GNU as from ``$ENTRYLINT_AS`` or PATH."""
    path = os.environ.get("ENTRYLINT_AS") or shutil.which("as")
    return path if path and os.access(path, os.X_OK) else None


def assembler_version(as_path: str | None, timeout: float = 10.0) -> str | None:
    if not as_path:
        return None
    try:
        proc = subprocess.run(
            [as_path, "--version"], capture_output=True, text=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    first = proc.stdout.splitlines()[0] if proc.stdout else ""
    return first if proc.returncode == 0 and "GNU assembler" in first else None


def parse_listing(text: str) -> dict[int, tuple[str | None, bytes]]:
    """Read an ``as -aln`` listing: line number -> (address or None, bytes).
    Continuation lines (same number, no tab) add bytes to their line."""
    out: dict[int, tuple[str | None, bytes]] = {}
    for raw in text.splitlines():
        m = _LIST_LINE.match(raw)
        if not m:
            continue
        number, rest = int(m.group(1)), m.group(2)
        head, tab, _ = rest.partition("\t")
        tokens = head.split()
        if tab:  # a source line: [address [data]]
            addr = tokens[0] if tokens else None
            data = tokens[1] if len(tokens) > 1 else ""
            if addr is not None and "?" in addr:
                addr = None
            prev = out.get(number)
            if prev is not None:  # a .rept body or macro line listed again
                addr, data = prev[0], prev[1].hex() + data
            out[number] = (addr, _hex(data))
        elif number in out and tokens:
            addr, data = out[number]
            out[number] = (addr, data + _hex(tokens[0]))
    return out


def _hex(s: str) -> bytes:
    try:
        return bytes.fromhex(s)
    except ValueError:
        return b""


# what one run of as may write and allocate: a `.skip 2000000000` would
# otherwise write a 2 GB object file (issue 9: bounded time and memory)
AS_MAX_FILE = 128 << 20
AS_MAX_MEMORY = 2 << 30


def _limits() -> list[tuple[str, int]]:
    """(ulimit option, value in its unit) of the limits one as run is given:
    each the soft limit only, never above what this process already has (it
    may run under a lower limit of its own: raising it would fail the run)."""
    import resource

    out = []
    for opt, res, want, unit in (("-f", resource.RLIMIT_FSIZE, AS_MAX_FILE, 512),
                                 ("-v", resource.RLIMIT_AS, AS_MAX_MEMORY, 1024)):
        try:
            soft, hard = resource.getrlimit(res)
        except (ValueError, OSError):
            continue
        cap = [x for x in (want, soft, hard) if x != resource.RLIM_INFINITY]
        out.append((opt, min(cap) // unit))
    return out


_SH = "/bin/sh"


def _bounded(cmd: list[str]) -> list[str]:
    """``cmd`` run under the limits above, set by a POSIX shell that then
    execs it (the same process: a timeout stops as itself).  Not by a
    preexec_fn: that makes subprocess fork the whole interpreter, 3-7 ms of
    page tables per run in a process of 80-300 MB (a -j 1 run of a tree runs
    as once per file, the language server at an edit that makes an
    instruction text the decoder's table lacks), where without one it can
    use vfork.  ``ulimit -f`` counts 512-byte blocks and ``-v`` KiB in dash,
    bash as sh, busybox and zsh; a limit the shell refuses is left unset (as
    before: best effort)."""
    if os.name != "posix" or not os.path.exists(_SH):
        return cmd
    sets = "".join(f"ulimit -S {opt} {n} 2>/dev/null; " for opt, n in _limits())
    return [_SH, "-c", sets + 'exec "$0" "$@"', *cmd]


def run_as(as_path: str, source: str, timeout: float = AS_TIMEOUT) -> _Run:
    """Assemble ``source`` with ``as --64`` and return its listing and errors."""
    if shutil.which(as_path) is None:  # (the shell that runs it would only say so in its own words)
        return _Run({}, [], f"cannot run {as_path}: no such executable")
    with scratch_dir("entrylint-as-") as tmp:
        src = Path(tmp, "in.s")
        lst = Path(tmp, "out.lst")
        src.write_text(source, encoding="utf-8", errors="replace")
        cmd = [as_path, "--64", f"-aln={lst}", "--listing-cont-lines=1000000",
               "-o", str(Path(tmp, "out.o")), str(src)]  # fmt: skip
        try:
            proc = subprocess.run(_bounded(cmd), capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return _Run({}, [], f"as timed out after {timeout:.0f} s")
        except OSError as exc:
            return _Run({}, [], f"cannot run {as_path}: {exc}")
        try:
            listing = parse_listing(lst.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            listing = {}
    errors: list[tuple[int, str]] = []
    for line in proc.stderr.splitlines():
        m = _ERROR_LINE.match(line)
        if m:
            if m.group("kind") == "Error":
                errors.append((int(m.group("line")), m.group("msg")))
            continue
        m = _ERROR_NOLINE.match(line)
        if m:
            errors.append((-1, m.group("msg")))
    if proc.returncode < 0 and not errors:  # killed: the file-size limit (SIGXFSZ) or memory
        return _Run({}, [], f"as stopped: the assembled output would exceed {AS_MAX_FILE >> 20} MB or "
                            f"{AS_MAX_MEMORY >> 30} GB of memory (a .skip/.fill/.space that large?)")
    if proc.returncode != 0 and not errors and not listing:
        return _Run({}, [], f"as failed: {proc.stderr.strip()[:200]}")
    return _Run(listing, errors)


# --- the decoder -----------------------------------------------------------------


def default_cache_dir() -> Path:
    """The cache folder every cache of entrylint shares (``source.cachedir``)."""
    return cache_root()


_Key = tuple[int, str]  # (code mode, normalized text)


class Decoder(DiskTable):
    """Instruction text -> ``InsnInfo``, with an in-process cache keyed by
    (code mode, normalized text) and an optional on-disk cache (machine code
    per mode and text, keyed by the versions of binutils and iced-x86 and by
    the cache schema, so files of another schema are never read).

    ``available`` is False when no GNU as can be run; ``status`` says why.
    (The disk cache is keyed by the assembler's version, so it cannot stand
    in for a missing assembler.)"""

    def __init__(
        self,
        as_path: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        disk_cache: bool = True,
        timeout: float = AS_TIMEOUT,
    ) -> None:
        self.as_path = as_path or find_assembler()
        self.timeout = timeout
        self.as_version = assembler_version(self.as_path)
        self.available = self.as_version is not None
        if self.available:
            self.status = f"{self.as_version} at {self.as_path}"
        elif self.as_path:
            self.status = f"{self.as_path} is not a working GNU assembler"
        else:
            self.status = "GNU as (binutils) not found on PATH"
        self._mem: dict[_Key, InsnInfo | str] = {}
        self._disk: dict[_Key, str] = {}  # (mode, text) -> hex bytes, or "!" + error
        self._dirty = False
        self.assembled = 0  # texts sent to as so far (for tests and stats)
        self.as_runs = 0
        key = f"as={self.as_version};iced={iced_version()};schema={_CACHE_SCHEMA}"
        self._cache_key = key
        self.cache_path: Path | None = None
        if disk_cache and self.available:
            digest = hashlib.sha1(key.encode()).hexdigest()[:12]
            self.cache_path = Path(cache_dir or default_cache_dir(), f"decode-{digest}.json")
            self.load()

    def _from_disk(self, key: _Key) -> InsnInfo | str | None:
        raw = self._disk.get(key)
        if raw is None:
            return None
        if raw.startswith("!"):
            return raw[1:]
        mode, text = key
        _, operands = split_opcode(text)
        return _decode_one(text, operands, _hex(raw), mode)

    # -- the public API
    def info(self, text: str, mode: int = 64) -> InsnInfo | None:
        infos, _ = self.infos([text], [mode])
        return infos[0]

    def infos(
        self, texts: Sequence[str], modes: Sequence[int] | None = None
    ) -> tuple[list[InsnInfo | None], list[tuple[int, str]]]:
        """Decode each instruction text (``Stmt.text()`` of an ``insn``).

        ``modes`` gives each text's code mode: 16, 32 or 64 (the default),
        as ``.code16``/``.code32``/``.code64`` select it (``code_mode``).
        Registers of 16/32-bit code are still named by their 64-bit register.
        A prefix must be merged with its instruction first (``is_prefix``).

        Returns one ``InsnInfo`` or None per text, and ``(index, message)``
        for every text that could not be decoded (assembler errors; see
        ``is_unknown_mnemonic_message``).  When ``available`` is False, texts
        not in the cache get None and no message: the caller reports
        NO_ASSEMBLER once."""
        if modes is None:
            keys: list[_Key] = [(64, normalize(t)) for t in texts]
        else:
            if len(modes) != len(texts):
                raise ValueError(f"{len(texts)} texts but {len(modes)} modes")
            keys = [(m, normalize(t)) for t, m in zip(texts, modes)]
        todo: list[_Key] = []
        for key in dict.fromkeys(keys):
            if key in self._mem:
                continue
            early = _check_text(*key)
            if early is not None:  # no need to assemble (and not cached on disk)
                self._mem[key] = early
                continue
            hit = self._from_disk(key)
            if hit is not None:
                self._mem[key] = hit
            else:
                todo.append(key)
        if todo and self.available:
            self._assemble(todo)
        infos: list[InsnInfo | None] = []
        errors: list[tuple[int, str]] = []
        for i, key in enumerate(keys):
            got = self._mem.get(key)
            if isinstance(got, InsnInfo):
                infos.append(got)
            else:
                infos.append(None)
                if got is not None:
                    errors.append((i, got))
        if self._dirty:
            self._later()
        return infos, errors

    def _assemble(self, todo: list[_Key]) -> None:
        results = self._batches(todo, {})
        retry = [k for k in todo if isinstance(results[k], str)
                 and not is_unknown_mnemonic_message(results[k])]  # fmt: skip
        if retry:
            # Stand-ins for every symbol, the dummy of standalone() included,
            # and no relocation operators: an undefined symbol in an immediate
            # that must be small, the difference of two undefined symbols
            # ("can't resolve"), `sym@GOTOFF` in 32-bit code do not assemble;
            # registers and flags do not depend on the values.
            names: set[str] = set()
            for _, text in retry:
                names |= _identifiers(text)
            stand_ins = {n: STAND_IN_VALUE for n in sorted(names)}
            again = self._batches(retry, stand_ins, plain=True)
            for k in retry:
                if isinstance(again[k], InsnInfo):
                    results[k] = again[k]
        for k, got in results.items():
            self._mem[k] = got
            if isinstance(got, InsnInfo):
                self._disk[k] = got.bytes.hex() if got.bytes else ""
            elif not got.startswith("as "):  # do not cache timeouts
                self._disk[k] = "!" + got
            self._dirty = True

    def _batches(
        self, keys: list[_Key], stand_ins: Mapping[str, int], plain: bool = False
    ) -> dict[_Key, InsnInfo | str]:
        """``_batch`` of ``keys``, but a text that can reach past its line is
        assembled alone.  In a batch it takes its neighbours with it (`'` at
        the end takes the newline as its character and shifts every later
        line of the listing; an open `"` or `/*` runs to the end of the
        file), and each answer is cached per text: no answer may depend on
        what a text was first assembled with."""
        alone = [k for k in keys if _HAZARD.search(k[1])]
        rest = [k for k in keys if not _HAZARD.search(k[1])]
        out = self._batch(rest, stand_ins, plain) if rest else {}
        for k in alone:
            out.update(self._batch([k], stand_ins, plain))
        return out

    def _batch(
        self, keys: list[_Key], stand_ins: Mapping[str, int], plain: bool = False
    ) -> dict[_Key, InsnInfo | str]:
        """One as run for ``keys``, grouped by mode behind ``.codeNN`` lines;
        ``plain``: without relocation operators (``@GOTOFF``)."""
        lines = [".text"] + [f".set {name}, {value}" for name, value in stand_ins.items()]
        placed: list[tuple[_Key, int]] = []  # (key, 1-based line number in the batch)
        mode: int | None = None
        if any(key[0] != keys[0][0] for key in keys):
            keys = sorted(keys, key=_mode_order)  # stable: 64 first, then 32, 16
        for key in keys:
            if key[0] != mode:
                mode = key[0]
                lines.append(_DIRECTIVE_OF_MODE[mode])
            stmt = standalone(key[1])
            lines.append(_RELOC_SUFFIX.sub("", stmt) if plain else stmt)
            placed.append((key, len(lines)))
        run = run_as(self.as_path or "as", "\n".join(lines) + "\n", self.timeout)
        self.as_runs += 1
        self.assembled += len(keys)
        if run.failed:
            return {k: run.failed for k in keys}
        errs: dict[int, str] = {}
        for line, msg in run.errors:
            errs.setdefault(line, msg)
        out: dict[_Key, InsnInfo | str] = {}
        for key, n in placed:
            if n in errs:
                out[key] = errs[n]
                continue
            _, data = run.listing.get(n, (None, b""))
            mode, text = key
            _, operands = split_opcode(text)
            out[key] = _decode_one(text, operands, data, mode)
        return out


_HAZARD = re.compile(r"['\"]|/\*")  # what can reach past a text's own line in a batch (not `\\`: as says "stray")


def _mode_order(key: _Key) -> int:
    return -key[0]


def _check_text(mode: int, text: str) -> str | None:
    """The error of a text that need not be assembled to know it, or None."""
    if not text:
        return "empty instruction"
    if mode not in _DIRECTIVE_OF_MODE:
        return f"unsupported code mode {mode} (16, 32 or 64)"
    words = text.split()
    if words[0].lower().rstrip(";") in PREFIXES and all(_is_prefix(w) for w in words):
        return f"prefix `{' '.join(w.rstrip(';') for w in words)}' without an instruction"
    return None

