"""The C function index (analysis/cindex.py): fixtures, then the real trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint.analysis import cindex, ctext
from entrylint.analysis.cdefiners import count_params, definers_from_header
from entrylint.analysis.cindex import CIndex, LazyCIndex, blank_attributes, cached_index, parse_functions

FIX = Path(__file__).resolve().parent.parent / "fixtures" / "analysis" / "c"


@pytest.fixture(scope="module")
def fixture_index() -> CIndex:
    return CIndex.build(FIX, folders=(".",))


def test_blanking_keeps_offsets():
    src = b"__visible noinstr void f(void) __attribute__((x(1))) ;\n"
    out, found = blank_attributes(src)
    assert len(out) == len(src)
    assert out.split() == [b"void", b"f(void)", b";"]
    assert [n for _, n in found] == ["__visible", "noinstr", "__attribute__"]


def test_plain_and_attributed_functions(fixture_index):
    f = fixture_index.get("do_syscall_64")
    assert f is not None and f.noinstr and f.attributes >= {"__visible", "noinstr"}
    assert f.file == "entry.c" and f.line == 5
    assert fixture_index.get("sync_regs").noinstr  # pointer return, asmlinkage
    x = fixture_index.get("do_syscall_x64")
    assert x is not None and not x.noinstr and "__always_inline" in x.attributes
    assert fixture_index.get("setup_thing").attributes == {"__init"}  # under #ifdef
    assert fixture_index.get("plain_function") is not None


def test_macro_defined_functions(fixture_index):
    for name, macro in (("exc_int3", "DEFINE_IDTENTRY_RAW"), ("exc_page_fault", "DEFINE_IDTENTRY_RAW_ERRORCODE"),
                        ("noist_exc_debug", "DEFINE_IDTENTRY_DEBUG_USER")):
        f = fixture_index.get(name)
        assert f is not None and f.noinstr and f.macro == macro, name
    s = fixture_index.get("__x64_sys_ni_syscall")
    assert s is not None and not s.noinstr
    assert fixture_index.get("x") is None  # the body of a #define is not a definition
    assert fixture_index.get("DEFINE_IDTENTRY_RAW") is None


def test_definers_from_header_text():
    text = (
        "#define DEFINE_A(func)\t\t\\\n"
        "static __always_inline void __##func(struct pt_regs *regs);\t\\\n"
        "__visible noinstr void func(struct pt_regs *regs)\n"
        "#define DEFINE_B(func) DEFINE_A(pre_##func)\n"
        "#define DEFINE_C DEFINE_B\n"
        "#define DEFINE_D(func) void func(int x)\n"
        "#define DEFINE_E(func) void func(struct pt_regs *regs, unsigned long error_code)\n"
        "#define DEFINE_F(func) void func(void)\n"
    )
    d = definers_from_header(text)
    # (template, noinstr, attributes, declared parameters)
    assert d["DEFINE_A"] == ("{}", True, frozenset({"__visible", "noinstr"}), 1)
    assert d["DEFINE_B"][0] == "pre_{}" and d["DEFINE_B"][1] and d["DEFINE_B"][3] == 1
    assert d["DEFINE_C"] == d["DEFINE_B"]
    assert d["DEFINE_D"] == ("{}", False, frozenset(), 1)
    assert d["DEFINE_E"][3] == 2 and d["DEFINE_F"][3] == 0


def test_prototype_parameter_counts():
    from entrylint.analysis.cindex import parse_functions

    src = (b"static int two(struct pt_regs *regs, unsigned long code) { return 0; }\n"
           b"void none(void) { }\n"
           b"int fmt(const char *f, ...) { return 0; }\n"
           b"void (*handler_for(int vector))(int) { return 0; }\n"
           b"__visible noinstr void three(struct pt_regs *regs, long a, long b) { }\n")
    got = {f.name: f.params for f in parse_functions(src, "x.c", {})}
    assert got == {"two": 2, "none": 0, "fmt": None, "handler_for": 1, "three": 3}
    assert count_params("int (*cb)(int, int), long x") == 2


def _same_answers(full: CIndex, lazy: LazyCIndex, step: int = 1) -> list[str]:
    """The names (every ``step``-th one the full build defines, each with a
    definer template's prefix and cut short, strangers) on which they differ."""
    names = set(sorted(full.functions)[::step])
    names |= {p + n for n in set(names) for p in ("noist_", "kernel_", "user_", "fred_", "x")}
    names |= {n[:-1] for n in names} | {"error_entry", "nothing_here", "0"}
    return [n for n in sorted(names) if full.get(n) != lazy.get(n)]


@pytest.mark.parametrize("prepared", [False, True])
def test_lazy_index_answers_as_the_full_build(fixture_index, prepared):
    """(``prepared``: each file's identifiers listed first, ahead.py's child.)"""
    lazy = LazyCIndex(FIX, (".",))
    if prepared:
        lazy.prepare()
    assert _same_answers(fixture_index, lazy) == []
    assert not lazy.empty() and lazy.files == fixture_index.files


def test_lazy_index_parses_only_the_files_that_hold_the_name(monkeypatch, tmp_path):
    for f in FIX.glob("*.c"):
        (tmp_path / f.name).write_bytes(f.read_bytes())
    for k in range(5):
        (tmp_path / f"other{k}.c").write_text(f"int helper{k}(int a) {{ return a; }}\n")
    parsed = []
    real = cindex.parse_functions
    monkeypatch.setattr(cindex, "parse_functions", lambda src, rel, d, **k: parsed.append(rel) or real(src, rel, d, **k))
    lazy = LazyCIndex(tmp_path, (".",))
    assert lazy.get("do_syscall_64").file == "entry.c"
    assert parsed == ["entry.c"]
    assert lazy.get("do_syscall_64") is not None and parsed == ["entry.c"]  # answered once
    assert lazy.get("helper3").params == 1 and parsed == ["entry.c", "other3.c"]
    # a name made by a definer macro: the file holding its argument is read
    assert lazy.get("noist_exc_debug") == CIndex.build(FIX, folders=(".",)).get("noist_exc_debug")
    assert lazy.files == 6


@pytest.mark.parametrize("prepared", [False, True])
def test_lazy_index_skips_files_that_hold_the_name_only_inside_longer_identifiers(monkeypatch, tmp_path, prepared):
    """``main`` is in ``domain`` and ``main_loop`` (a third of a tree's C
    files): a file is parsed only where the name has no C identifier
    character on either side -- any such place outside comments and
    strings, and one beside ``$`` or a byte beyond ASCII, which the parser
    may read as part of an identifier (a superset of its identifiers)."""
    files = {
        "domain.c": "int domain_id(void) { return remain + main_loop; }\n",  # never parsed
        "boot.c": "/* the entry */\nvoid main(void) { }\n",
        "comment.c": "/* calls main */\nint other(void) { return 0; }\n",  # never parsed
        "dollar.c": "int a$main(void) { return 0; }\n",
        "utf8.c": "int \u00e9main(void) { return 0; }\n",
        "pasted.c": "int xmain(void);\nint mainx(void);\n",  # never parsed
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    parsed = []
    real = cindex.parse_functions
    monkeypatch.setattr(cindex, "parse_functions", lambda src, rel, d, **k: parsed.append(rel) or real(src, rel, d, **k))
    lazy = LazyCIndex(tmp_path, (".",))
    if prepared:  # (the files' identifiers looked up, not the text searched: the same files)
        lazy.prepare()
    got = lazy.get("main")
    assert got is not None and got.file == "boot.c" and got.params == 0
    assert sorted(parsed) == ["boot.c", "dollar.c", "utf8.c"]
    assert got == CIndex.build(tmp_path, folders=(".",)).get("main")
    assert lazy.get("domain_id").file == "domain.c"  # as a name of its own, it is found


def _indexes(files: dict[str, str], tmp_path, monkeypatch) -> tuple[CIndex, LazyCIndex, list[str]]:
    """The full and the lazy index of a folder of ``files``, and the list the
    files the lazy one parses are added to."""
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    full = CIndex.build(tmp_path, folders=(".",))
    parsed: list[str] = []
    real = cindex.parse_functions
    monkeypatch.setattr(cindex, "parse_functions", lambda src, rel, d, **k: parsed.append(rel) or real(src, rel, d, **k))
    return full, LazyCIndex(tmp_path, (".",)), parsed


def test_lazy_index_skips_files_that_name_it_only_in_comments_and_strings(monkeypatch, tmp_path):
    """A name in a comment or a string literal is no definition: the file
    is not parsed.  A comment opener in a string, a character literal or
    an included header's name opens none (the code after it is read), a
    ``//`` comment continued by a
    backslash is taken to end at its line (the parser reads on), and a
    definer macro's argument counts in a comment too (the definer scan
    reads the text as it is)."""
    files = {
        "said.c": "/* run() calls probe()\n * and probe() again */\n// probe() here\nint x;\n",
        "quoted.c": 'static const char *s = "probe";\nint y;\n',
        "in_string.c": 'static const char *s = "/*";\nint probe(void) { return 0; }\n',
        "in_char.c": "static char c = '\"'; static char d = '/'; /* x */\nint probe(int a) { return a; }\n",
        "continued.c": "// a comment \\\nint probe(int a, int b) { return a; }\n",
        "header.c": "#include <a/*b.h>\nint probe(int a, int b, int c) { return a; }\n",
        "definer.c": "/*\nDEFINE_IDTENTRY(probe) {\n*/\n",
    }
    full, lazy, parsed = _indexes(files, tmp_path, monkeypatch)
    assert lazy.get("probe") == full.get("probe") and full.get("probe").file == "definer.c"
    assert sorted(parsed) == ["continued.c", "definer.c", "header.c", "in_char.c", "in_string.c"]
    assert lazy.get("x") == full.get("x") and lazy.get("s") == full.get("s")


def test_lazy_index_skips_files_that_only_call_or_declare_it(monkeypatch, tmp_path):
    """Where the name is followed by a parameter list that a ``;``, ``,``,
    ``=`` or an operator follows, it is a call or a prototype: the file is
    not parsed.  A definition's list is followed by its body, an attribute
    (blanked as the parser reads it, or a macro), a K&R declaration, or the
    ``)`` of a function returning a function pointer; a comment or a line
    continuation between changes nothing; parentheses in comments and
    strings are not counted."""
    files = {
        "calls.c": "void f(void)\n{\n\tprobe(x);\n\ty = probe(1) + 2;\n\tz(probe(2), 3);\n\tq = probe(3)->a;\n}\n",
        "declares.c": "int probe(int a, const char *s);\nextern void probe(void) __attribute__((noreturn));\n",
        "used.c": "static void *p = &probe;\nint g(void) { return probe == 0; }\n",
        "pointer.c": "void (*probe(int a))(int)\n{\n\treturn 0;\n}\n",
        "commented.c": "int probe(int a /* (( */, int b) /* body: */\n{\n\treturn a;\n}\n",
        "attribute.c": "int probe __attribute__((unused)) (int a, int b, int c, int d) { return a; }\n",
        "continued.c": "int probe \\\n(int a) \\\n{ return a; }\n",
        "knr.c": "int probe(a)\nint a;\n{\n\treturn a;\n}\n",
        "if.c": "void h(void)\n{\n\tif (probe(1)) {\n\t}\n}\n",  # parsed: ")" may end a definition's name
    }
    full, lazy, parsed = _indexes(files, tmp_path, monkeypatch)
    assert lazy.get("probe") == full.get("probe") and full.get("probe").file == "attribute.c"
    assert sorted(parsed) == ["attribute.c", "commented.c", "continued.c", "if.c", "knr.c", "pointer.c"]
    # every file the parser finds a definition in is among them
    defined = {fn.file for n in files for fn in parse_functions((tmp_path / n).read_bytes(), n, {}) if fn.name == "probe"}
    assert defined <= set(parsed) and {"attribute.c", "commented.c", "pointer.c"} <= defined


def test_comment_spans_are_the_comments_and_strings():
    text = b"""int a; /* x */ char *s = "/* no"; // tail
char c = '"'; /* y
z */ q "a\\"b" '/*' u"""
    assert [text[a:b] for a, b in ctext.comment_spans(text)] == [
        b"/* x */", b'"/* no"', b"// tail", b"/* y\nz */", b'"a\\"b"']


def test_a_files_identifiers_are_its_maximal_runs_of_identifier_characters():
    import random
    import re

    rnd = random.Random(3)
    alphabet = b"aZ_09 \t\n(){}.,;#$-\x80\xff\xc3\xa9"
    for _ in range(3000):
        text = bytes(rnd.choice(alphabet) for _ in range(rnd.randint(0, 40)))
        assert ctext.identifiers(text) == frozenset(re.findall(rb"[A-Za-z0-9_]+", text)), text


def test_an_index_of_no_c_files_is_empty(tmp_path):
    (tmp_path / "a.h").write_text("int f(void) { return 0; }\n")
    assert LazyCIndex(tmp_path, (".",)).empty()
    (tmp_path / "b.c").write_text("/* nothing defined */\nint x;\n")
    assert LazyCIndex(tmp_path, (".",)).empty() and len(CIndex.build(tmp_path, (".",))) == 0
    (tmp_path / "c.c").write_text("int g(void) { return 1; }\n")
    assert not LazyCIndex(tmp_path, (".",)).empty()


def test_cached_index_memo_and_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(cindex, "_memo", {})
    a = cached_index(FIX, folders=(".",))
    assert cached_index(FIX, folders=(".",)) is a
    want = {n: a.get(n) for n in ("do_syscall_64", "sync_regs", "not_a_function")}
    assert not list((tmp_path / "cindex").glob("*.pickle"))  # three answers: written at the exit
    assert a.save() and list((tmp_path / "cindex").glob("*.pickle"))  # (what the exit hook does)
    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setattr(cindex, "parse_functions", lambda *a: pytest.fail("the answers were not kept"))
    b = cached_index(FIX, folders=(".",))
    assert b is not a and {n: b.get(n) for n in want} == want



def _helpers(tmp_path, n: int) -> Path:
    tree = tmp_path / "tree"
    tree.mkdir()
    for k in range(n):
        (tree / f"h{k}.c").write_text(f"int helper{k}(int a) {{ return a; }}\n")
    return tree


def test_answers_are_written_a_few_times_not_once_per_name(tmp_path, monkeypatch):
    """A run asks dozens of names: the answers are written when the new ones
    are a quarter of what was written (51 writes of the growing table were
    4% of a cold entry_64.S), the rest at the process's exit, as ``save``
    does here; a later process then parses nothing."""
    monkeypatch.setenv("ENTRYLINT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(cindex, "_memo", {})
    tree = _helpers(tmp_path, 60)
    a = cached_index(tree, folders=(".",))
    want = {f"helper{k}": a.get(f"helper{k}") for k in range(60)}
    assert all(want.values())
    assert 3 <= a.saves <= 20, a.saves  # once per name would be 60
    assert a.saves <= 60 // LazyCIndex.BATCH  # (a quarter alone: 17 writes by the 60th)
    a.save()  # what the exit hook does
    monkeypatch.setattr(cindex, "_memo", {})
    monkeypatch.setattr(cindex, "parse_functions", lambda *a: pytest.fail("the answers were not all kept"))
    b = cached_index(tree, folders=(".",))
    assert {n: b.get(n) for n in want} == want and not b.save()  # nothing new: nothing written


def test_two_processes_answers_are_merged_not_overwritten(tmp_path):
    """-j workers ask about different names and write the same file: each
    write keeps what the other wrote since."""
    tree = _helpers(tmp_path, 4)
    path = tmp_path / "answers.pickle"
    one, two = LazyCIndex(tree, (".",), path=path), LazyCIndex(tree, (".",), path=path)
    one.get("helper0")
    two.get("helper1")
    one.get("helper2")
    one.save(), two.save()
    kept = LazyCIndex(tree, (".",), path=path)
    kept.load()
    assert set(kept.answers) == {"helper0", "helper1", "helper2"}


# --- real trees (marker kernel) ---------------------------------------------

# C targets of call/jmp in the expanded 6.1/6.12 entry_64.S + entry_64_compat.S.
KNOWN_C_TARGETS = {
    "do_syscall_64": True, "sync_regs": True, "fixup_bad_iret": True, "vc_switch_off_ist": True,
    "exc_page_fault": True, "exc_nmi": True, "exc_int3": True, "noist_exc_debug": True,
    "kernel_exc_vmm_communication": True, "sysvec_apic_timer_interrupt": True,
    "syscall_exit_to_user_mode": True, "do_fast_syscall_32": True, "do_SYSENTER_32": True,
    "xen_pv_evtchn_do_upcall": True, "common_interrupt": True, "spurious_interrupt": True,
    "schedule_tail": False, "__switch_to": False, "make_task_dead": False,
}


def test_kernel_targets(kernel_tree):
    idx = CIndex.build(kernel_tree)
    for name, noinstr in KNOWN_C_TARGETS.items():
        f = idx.get(name)
        assert f is not None, name
        assert f.noinstr is noinstr, (name, f)
    assert idx.get("exc_page_fault").file == "arch/x86/mm/fault.c"
    lazy = LazyCIndex(kernel_tree, cindex.DEFAULT_FOLDERS)
    assert _same_answers(idx, lazy, step=40) == [] and all(lazy.get(n) == idx.get(n) for n in KNOWN_C_TARGETS)
    # asm symbols are not C functions
    for name in ("error_entry", "paranoid_entry", "swapgs_restore_regs_and_return_to_usermode"):
        assert idx.get(name) is None, name
