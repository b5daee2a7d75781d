"""Which call targets of entry asm are C functions, and which of them are noinstr.

MODEL 3 treats a ``call``/``jmp`` to a symbol that is not asm of the analyzed
files as a call into C.  This index answers "is ``sync_regs`` a C function,
where is it, and is it ``noinstr``?" by parsing the C files that entry asm
calls into with tree-sitter-c (shared/notes/deps.md 5).

How a file is read:

1. Attribute macros (``noinstr``, ``__visible``, ``__always_inline``,
   ``__section(...)``, ``__attribute__((...))``, ... : ``ATTRIBUTES``) are
   replaced with spaces of the same length, so byte offsets, lines and columns
   are kept and tree-sitter sees plain C.  Each blanked macro is remembered by
   its offset; a function's attributes are those between the end of the
   previous top-level item and its body.
2. Every ``function_definition`` is taken, also under ``#if`` (preproc nodes
   are walked into).  Functions defined through a macro (``DEFINE_IDTENTRY_RAW
   (exc_int3) { ... }`` parses as type ``DEFINE_IDTENTRY_RAW``, declarator
   ``(exc_int3)``) take their name and attributes from a *definer* table.
3. The definer table is read from the tree's own
   ``arch/x86/include/asm/idtentry.h`` (``cdefiners.definers_from_header``): each
   ``#define DEFINE_X(func)`` whose body declares ``<attrs> void
   [prefix##]func(`` outside ``static``, or forwards to another definer, or is
   an object-like alias.  ``cdefiners.FALLBACK_DEFINERS`` is used for what the header
   does not define (and when there is no tree): it is what 6.1 and 6.12 say.

Coverage of DEFAULT_FOLDERS, measured on the direct call/jmp targets of the
expanded arch/x86/entry/entry_64.S + entry_64_compat.S (profile ``max``):
6.1: 62 of 87 found as C (all 62 noinstr except schedule_tail, __switch_to,
make_task_dead); 6.12: 59 of 82.  Every name not found is asm of another file
(error_entry, paranoid_*, *_untrain_ret, clear_bhb_loop, asm_*,
int80_emulation, ...) or a macro-generated name of a dead branch
(exc_xen_hypervisor_callback).  Build: ~330 files, ~5.7k functions, 0.7-0.9 s
per tree (1.2-1.8 s on a slower machine).  What a check uses is
``cached_index``: a ``LazyCIndex``, the same answers made per name asked
(6.12's entry_64.S asks 50 names and parses 18 of 342 files: not those that
name one only in comments, strings, calls or prototypes), kept on disk
for later runs (written a few times a run and at its end: cachedir.WrittenLater).
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Iterable, Sequence

from entrylint.analysis import ctext
from entrylint.analysis.cdefiners import ATTRIBUTE_WORDS, IDTENTRY_HEADER, count_params, definers_of
from entrylint.source.cachedir import WrittenLater
from entrylint.source.record import data

# Folders (recursive) and single files whose functions entry asm calls.
# Measured on 6.1 and 6.12: every C target of entry_64.S/entry_64_compat.S
# lives in one of these (schedule_tail, make_task_dead and BUG_func are the
# only ones outside arch/x86 and kernel/entry).
DEFAULT_FOLDERS: tuple[str, ...] = (
    "arch/x86/entry",  # do_syscall_64, do_int80_emulation, xen_pv_evtchn_do_upcall
    "arch/x86/kernel",  # traps.c (sync_regs, fixup_bad_iret, exc_*), nmi.c, apic/, cpu/mce/, process*.c
    "arch/x86/mm",  # fault.c: exc_page_fault
    "arch/x86/xen",  # xenpv_exc_*, exc_xen_*
    "arch/x86/coco",  # 6.12 sev: exc_vmm_communication
    "arch/x86/hyperv",  # sysvec_hyperv_* (when configured)
    "arch/x86/lib",  # clear_bhb_loop etc. are asm; a few C helpers
    "kernel/entry",  # syscall_exit_to_user_mode
    "kernel/sched/core.c",  # schedule_tail
    "kernel/exit.c",  # make_task_dead
    "lib/bug.c",  # BUG_func (6.12)
)

def _words_re(words) -> re.Pattern:
    """``\\b(word|...)\\b`` with the words that start with ``__`` behind one
    ``__`` (the engine tries that branch once where an identifier starts,
    not once per word: twice as fast over a tree's C files).  At most one
    word ends at a word boundary where one starts, so the order of the
    branches does not change a match."""
    under = [re.escape(w[2:]) for w in words if w.startswith("__")]
    rest = [re.escape(w) for w in words if not w.startswith("__")]
    branches = ([f"__(?:{'|'.join(under)})"] if under else []) + rest
    return re.compile(r"\b(" + "|".join(branches) + r")\b")


_ATTR_RE = _words_re(ATTRIBUTE_WORDS)

CACHE_VERSION = 3  # 2: CFunction.params; 3: the answers of a LazyCIndex


@data(frozen=True)
class CFunction:
    name: str
    file: str  # relative to the root
    line: int  # 1-based line of the definition
    attributes: frozenset[str]
    noinstr: bool
    macro: str | None = None  # the definer macro, for macro-defined functions
    params: int | None = None  # declared parameters (MODEL 4: the argument registers it reads); None: unknown


# --- parsing ----------------------------------------------------------------

_parser = None


def _get_parser():
    global _parser
    if _parser is None:
        import tree_sitter as ts
        import tree_sitter_c

        _parser = ts.Parser(ts.Language(tree_sitter_c.language()))
    return _parser


def blank_attributes(src: bytes) -> tuple[bytes, list[tuple[int, str]]]:
    """Replace attribute macros (and their balanced argument lists) with spaces
    of the same length; return the new text and (offset, name) of each."""
    text = src.decode("latin-1")
    pieces: list[str] = []
    found: list[tuple[int, str]] = []
    done = 0  # text[:done] is in pieces (blanked where it was an attribute)
    for m in _ATTR_RE.finditer(text):
        start, end = m.start(), m.end()
        if start < done:  # already blanked inside an earlier argument list
            continue
        j = end
        while j < len(text) and text[j] in " \t":
            j += 1
        if j < len(text) and text[j] == "(":
            depth = 0
            for k in range(j, min(len(text), j + 400)):
                depth += text[k] == "("
                depth -= text[k] == ")"
                if depth == 0:
                    end = k + 1
                    break
        pieces.append(text[done:start])
        pieces.append(_NOT_NEWLINE.sub(" ", text[start:end]))
        done = end
        found.append((start, m.group(1)))
    pieces.append(text[done:])
    return "".join(pieces).encode("latin-1"), found


_NOT_NEWLINE = re.compile(r"[^\n]")


def _declarator_name(node) -> str | None:
    while node is not None:
        if node.type in ("identifier", "field_identifier"):
            return node.text.decode("latin-1")
        node = node.child_by_field_name("declarator") or next(
            (c for c in node.named_children if c.type.endswith("declarator") or c.type == "identifier"), None)
    return None


def parse_functions(src: bytes, rel: str, definers: dict, blanked: tuple | None = None) -> list[CFunction]:
    """The C functions defined in one file's text (``blanked``: what
    blank_attributes gives of it, when at hand)."""
    text, attrs = blanked or blank_attributes(src)
    tree = _get_parser().parse(text)
    offsets = [o for o, _ in attrs]
    out: list[CFunction] = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        prev_end = 0
        for child in node.named_children:
            if child.type == "function_definition":
                fn = _function(child, prev_end, attrs, offsets, rel, definers)
                if fn is not None:
                    out.append(fn)
            elif child.type.startswith("preproc_") or child.type in ("ERROR", "linkage_specification", "declaration_list"):
                stack.append(child)
            prev_end = child.end_byte
    out.extend(_macro_defined(text, rel, definers))
    return out


def _function(node, prev_end, attrs, offsets, rel, definers) -> CFunction | None:
    import bisect

    body = node.child_by_field_name("body")
    stop = body.start_byte if body is not None else node.end_byte
    lo, hi = bisect.bisect_left(offsets, prev_end), bisect.bisect_left(offsets, stop)
    names = frozenset(n for _, n in attrs[lo:hi])
    decl = node.child_by_field_name("declarator")
    typ = node.child_by_field_name("type")
    if decl is not None and decl.type == "parenthesized_declarator":
        return None  # DEFINE_X(name) { ... }: _macro_defined
    name = _declarator_name(decl)
    if name is None or name in definers or (typ is not None and typ.text.decode("latin-1") in definers):
        return None
    return CFunction(name, rel, node.start_point[0] + 1, names, "noinstr" in names, params=_params(decl))


def _params(decl) -> int | None:
    """The parameter count of the function a declarator declares: its innermost
    ``function_declarator`` (``void (*f(int a))(int)`` declares f(int a))."""
    fd = None
    while decl is not None:
        if decl.type == "function_declarator":
            fd = decl
        decl = decl.child_by_field_name("declarator")
    plist = fd.child_by_field_name("parameters") if fd is not None else None
    if plist is None:
        return None
    return count_params(plist.text.decode("latin-1")[1:-1])


def _macro_defined(text: bytes, rel: str, definers: dict) -> list[CFunction]:
    """``DEFINE_X(name[, ...])`` at the start of a line, followed by a body.
    Taken from the text rather than the tree: tree-sitter's error recovery
    folds such a definition into whatever unparsed macro line precedes it."""
    s = text.decode("latin-1")
    out = []
    for m in _MACRO_DEF_RE.finditer(s):
        spec = definers.get(m.group(1))
        if spec is None:
            continue
        before = s[:m.start()]  # ends with the previous line's newline
        if before[:-1].rstrip(" \t").endswith("\\"):  # inside a #define
            continue
        template, noinstr, mattrs = spec[:3]
        line = s.count("\n", 0, m.start()) + 1
        out.append(CFunction(template.format(m.group(2)), rel, line, mattrs, noinstr, m.group(1),
                             spec[3] if len(spec) > 3 else None))
    return out


_MACRO_DEF_RE = re.compile(r"^[ \t]*(\w*" + ctext.DEFINER_TAIL + r")\(\s*(\w+)[^;{}()]*(?:\([^;{}()]*\)[^;{}()]*)*\)\s*\{",
                           re.M)


# --- the index ----------------------------------------------------------------


def _files(root: Path, folders: Sequence[str]) -> list[Path]:
    out: list[Path] = []
    for f in folders:
        p = root / f
        if p.is_file():
            out.append(p)
        elif p.is_dir():
            out.extend(sorted(q for q in p.rglob("*.c") if q.is_file()))
    return out


class CIndex:
    """C functions by name.  A name defined twice (per-config variants) keeps
    the first definition seen, with ``noinstr`` true if any variant is."""

    def __init__(self, functions: dict[str, CFunction], files: int = 0):
        self.functions = functions
        self.files = files

    @classmethod
    def build(cls, root: Path, folders: Sequence[str] = DEFAULT_FOLDERS) -> "CIndex":
        root = Path(root)
        definers = definers_of(root)
        files = _files(root, folders)
        funcs: dict[str, CFunction] = {}
        for path in files:
            rel = path.relative_to(root).as_posix()
            for fn in parse_functions(path.read_bytes(), rel, definers):
                funcs[fn.name] = _merge(funcs.get(fn.name), fn)
        return cls(funcs, len(files))

    def get(self, name: str) -> CFunction | None:
        return self.functions.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.functions

    def __len__(self) -> int:
        return len(self.functions)

    def coverage(self, targets: Iterable[str]) -> tuple[set[str], set[str]]:
        """(found, missing) among ``targets``."""
        t = set(targets)
        return {n for n in t if n in self.functions}, {n for n in t if n not in self.functions}


def _merge(old: CFunction | None, fn: CFunction) -> CFunction:
    """The entry of a name defined again by ``fn`` (the first definition
    stays; ``noinstr`` if any definition is)."""
    if old is None:
        return fn
    if fn.noinstr and not old.noinstr:
        return CFunction(old.name, old.file, old.line, old.attributes | fn.attributes, True, old.macro, old.params)
    return old


class LazyCIndex(WrittenLater):
    """``CIndex.build``'s answers, made per name asked (a run asks about the
    few dozen names entry asm calls; the full index parses ~340 files).

    A file can define ``name`` only if its text holds ``name`` or, for a
    definer macro whose template makes ``name`` (``noist_{}``), the
    template's argument, as an identifier: the identifier of a definition is
    text of the file, and a definer's argument is.  The files where one of
    them may be defined (``ctext.may_define``: a superset of where the
    parser or a definer reads a definition of it) are parsed, each once,
    and their definitions of ``name`` merged in the full build's file
    order, so every answer is the full build's.  ``answers`` (name ->
    CFunction or None) is what the disk cache keeps, at ``path`` (None:
    nowhere; ``load`` reads it)."""

    # a run's answers come a few dozen at a time (a quarter of a small table is
    # one answer: the 50 of a cold entry_64.S were 17 writes, 19 ms)
    BATCH = 16

    def __init__(self, root: Path, folders: Sequence[str], path: Path | None = None):
        self.root, self.folders = Path(root), tuple(folders)
        self.answers: dict[str, CFunction | None] = {}
        self.cache_path = path
        self._paths: list[Path] | None = None
        self._texts: list[bytes] = []
        self._parsed: dict[int, list[CFunction]] = {}
        self._blanked: dict[int, tuple] = {}  # file -> _read(), made when asked
        self._definers: dict | None = None
        self._idents: list[frozenset[bytes]] | None = None  # per file, its identifiers (prepare)
        self.pending = None  # answers being made in a process apart (ask_apart), taken at the next get()

    @property
    def files(self) -> int:
        return len(self._list())

    def _list(self) -> list[Path]:
        if self._paths is None:
            self._paths = _files(self.root, self.folders)
        return self._paths

    def _words(self, name: str) -> set[bytes]:
        """``name`` and the definer arguments that make it, as bytes."""
        words = {name}
        for spec in self._definers.values():
            pre, _, post = spec[0].partition("{}")
            if len(name) > len(pre) + len(post) and name.startswith(pre) and name.endswith(post):
                words.add(name[len(pre):len(name) - len(post)])
        return {w.encode("latin-1", "replace") for w in words}

    def _sources(self) -> list[bytes]:
        if self._definers is None:
            self._definers = definers_of(self.root)
            self._texts = [p.read_bytes() for p in self._list()]
        return self._texts

    def _functions(self, i: int) -> list[CFunction]:
        """The functions file ``i`` defines (parsed once)."""
        fns = self._parsed.get(i)
        if fns is None:
            rel = self._list()[i].relative_to(self.root).as_posix()
            text, attrs, _ = self._read(i)
            fns = self._parsed[i] = parse_functions(self._sources()[i], rel, self._definers, blanked=(text, attrs))
        return fns

    def _read(self, i: int) -> tuple[bytes, list, list]:
        """File ``i`` as the parser reads it: blank_attributes' text and
        attributes, and the comment_spans of that text (made once)."""
        got = self._blanked.get(i)
        if got is None:
            text, attrs = blank_attributes(self._sources()[i])
            got = self._blanked[i] = (text, attrs, ctext.comment_spans(text))
        return got

    def _names(self, i: int, text: bytes, word: bytes, end: re.Pattern) -> bool:
        """File ``i`` (``text``) may define a function by the identifier
        ``word`` (``end``: its ``ctext.ident_end``): ``ctext.may_define`` in
        the text the parser reads.  A file that names it only in comments
        ("called from __switch_to()"), strings (``{"__switch_to", }``),
        calls or other uses is not parsed: 10 of the 27 files 6.12's
        entry_64.S had parsed.  (The word in the text as it is comes first:
        where the parser's text holds it, that text does.)"""
        if not ctext.as_identifier(text, end):
            return False
        seen, _, spans = self._read(i)
        return ctext.may_define(seen, spans, word, end)

    def _answer(self, name: str, got: CFunction | None) -> None:
        self.answers[name] = got
        if self.cache_path is not None:
            self._later()

    # -- the answers on disk (source.cachedir.WrittenLater): a pickled dict
    def _entries(self) -> int:
        return len(self.answers)

    def _merge(self, data: bytes) -> None:
        try:
            answers = pickle.loads(data)
        except Exception:  # noqa: BLE001 - an unreadable file holds no answers
            return
        if isinstance(answers, dict):
            for name, got in answers.items():
                self.answers.setdefault(name, got)

    def _serialized(self) -> bytes:
        return pickle.dumps(self.answers)

    def prepare(self) -> None:
        """The sources read and the identifiers of each listed (in the
        process that answers for a check, ahead.py, before the names come):
        a name is then looked up in each file's set (``ctext.identifiers``:
        the files ``ctext.as_identifier`` accepts), not searched for in
        4.6 MB of text (0.1 s for the 52 words of 6.12's entry_64.S)."""
        self._idents = [ctext.identifiers(text) for text in self._sources()]

    def ask_apart(self, names: Iterable[str]) -> bool:
        """The answers for ``names`` begun in a process apart (a check of a
        single file, the second core idle: the one that prepared this index,
        ahead.py, else one of their own, apart.py), while this one goes on
        with work that asks none; the next get() takes them (it waits for
        them then).  False when none was begun: fewer than two names to
        answer, or no process could be made."""
        from entrylint import ahead, apart

        todo = sorted({n for n in names if n and n not in self.answers})
        if len(todo) < 2 or self.pending is not None:
            return False
        self.pending = ahead.c_answers(self, todo) or apart.start(self._answers_of, todo)
        return self.pending is not None

    def _answers_of(self, names: list[str]) -> dict[str, CFunction | None]:
        """(In the process apart: its answers reach the disk through this
        one's.)  With them, under "", whether the index is empty: every
        check asks it (c-call-user-cr3), and it reads every source (13 ms
        of a cold 6.12 entry_64.S's rules in the process that asked)."""
        self.cache_path = None
        got = {n: self.get(n) for n in names}
        self.empty()
        got[""] = self.answers[""]
        return got

    def _collect(self) -> None:
        """The answers made apart, kept as this process's own (the disk's too);
        none when that process failed (get() then makes them here)."""
        from entrylint import ahead, apart

        h, self.pending = self.pending, None
        ahead.facts_before(h)
        new = {name: got for name, got in (apart.result(h) or {}).items() if name not in self.answers}
        self.answers.update(new)
        if new and self.cache_path is not None:
            self._later()  # (once for all of them: the table is written when they are enough)

    def cancel(self) -> None:
        """The answers begun apart are not wanted (none of their names is
        asked): that process is stopped and reaped."""
        from entrylint import ahead, apart

        h, self.pending = self.pending, None
        ahead.facts_before(h)  # (its facts, first on its pipe, are this check's)
        apart.finish(h, stop=True)

    def get(self, name: str) -> CFunction | None:
        if not name:
            return None
        if name in self.answers:
            return self.answers[name]
        if self.pending is not None:
            self._collect()
            if name in self.answers:
                return self.answers[name]
        texts = self._sources()
        idents = self._idents
        found: set[int] = set()  # the files that may define it
        for w in self._words(name):
            end = ctext.ident_end(w)
            holding = [i for i, s in enumerate(idents) if w in s] if idents is not None and end is not None \
                else [i for i, text in enumerate(texts) if w in text]
            found.update(i for i in holding if i not in found and (end is None or self._names(i, texts[i], w, end)))
        got = None
        for i in sorted(found):  # in the full build's order
            for fn in self._functions(i):
                if fn.name == name:
                    got = _merge(got, fn)
        self._answer(name, got)
        return got

    def __contains__(self, name: str) -> bool:
        return self.get(name) is not None

    def empty(self) -> bool:
        """The full index would hold no function (no C sources: a header-only
        tree): the files are parsed in order until one defines something.
        Kept among the answers under the name "" (no C name is empty)."""
        if "" not in self.answers:
            n = len(self._sources())
            self._answer("", next((fns[0] for fns in map(self._functions, range(n)) if fns), None))
        return self.answers[""] is None


_memo: dict[tuple[str, tuple[str, ...]], CIndex] = {}
_memo_files: dict[tuple[str, tuple[str, ...]], tuple] = {}  # the files an index in _memo was built from


def _cache_dir() -> Path:
    from entrylint.source.cachedir import cache_root

    return cache_root() / "cindex"


def _index_files(root: Path, folders: Sequence[str]) -> tuple[Path, ...]:
    """The files an index of ``folders`` is built from, each noted as a
    dependency of the result recording now (``source.reader.depends_on``)."""
    from entrylint.source.reader import depends_on

    files = (*_files(root, folders), root / IDTENTRY_HEADER)
    for p in files:
        depends_on(p)
    return files


def _key(root: Path, folders: Sequence[str], files: Sequence[Path] | None = None) -> str:
    h = hashlib.sha256(f"{CACHE_VERSION}\0{root.resolve()}".encode())
    for p in files if files is not None else _index_files(root, folders):
        try:
            st = p.stat()
        except OSError:
            continue
        h.update(f"{p}\0{st.st_size}\0{st.st_mtime_ns}\0".encode())
    return h.hexdigest()[:32]


def cached_index(root: Path, folders: Sequence[str] = DEFAULT_FOLDERS, disk: bool = True) -> LazyCIndex:
    """The index of ``folders`` (a ``LazyCIndex``: ``CIndex.build``'s answers,
    made per name asked) memoized per process and, when ``disk``, its answers
    on disk under cindex/ of the cache folder (``source.cachedir``) keyed by
    the files' sizes and mtimes.  Never writes into the tree; a cache that
    cannot be read or written is ignored."""
    from entrylint import cache
    from entrylint.source import reader

    root = Path(root)
    mkey = (str(root.resolve()), tuple(folders))
    files = None
    if cache.facts_on():
        # a stored fact of the tree: a result recording gets its key, not the
        # stat of every C file (listed once per process, and the listing kept)
        files = cache.fact(("cindex-files",) + mkey, _index_files, root, tuple(folders))
    if mkey in _memo:
        if files is None and reader._recorders:  # a result recording now uses the index too
            for p in _memo_files.get(mkey, ()):
                reader.depends_on(p)
        return _memo[mkey]
    files = files if files is not None else _index_files(root, folders)
    path = _cache_dir() / f"{_key(root, folders, files)}.pickle" if disk else None
    idx = _memo[mkey] = LazyCIndex(root, folders, path)
    idx.load()
    _memo_files[mkey] = files
    return idx


__all__ = ["CFunction", "CIndex", "LazyCIndex", "DEFAULT_FOLDERS", "cached_index",
           "blank_attributes", "parse_functions"]
