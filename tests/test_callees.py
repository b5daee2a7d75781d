"""What a call out of the analyzed file reads and clobbers (MODEL 4,
analysis/callees.py): C prototypes' parameter counts, asm thunks of other
files summarised from their own code.  Fixture tree written here."""

from __future__ import annotations

from pathlib import Path

import pytest

from entrylint import api
from entrylint.analysis.asmindex import asm_definitions
from entrylint.analysis.callees import Callees
from kernels import shared_tree

TREE = Path(__file__).resolve().parents[1] / "fixtures" / "analysis" / "callee-tree"
ENTRY = TREE / "arch" / "x86" / "entry" / "entry_callees.S"


def _analysis():
    return api.analyze(ENTRY, api.Options(root=TREE))


def _at(an, text: str) -> int:
    return next(i.index for i in an.program.instructions if " ".join(i.text.split()) == text)


def test_prototype_decides_which_argument_registers_a_c_call_reads():
    an = _analysis()
    two = [i.index for i in an.program.instructions if i.target_name == "fixture_handle_two"][0]
    three = [i.index for i in an.program.instructions if i.target_name == "fixture_handle_three"][0]
    # a 2-argument handler reads %rdi and %rsi, not %rdx; a 3-argument one reads %rdx too
    assert "rdx" not in an.liveness.before(two)
    assert {"rdi", "rsi"} <= an.liveness.before(two)
    assert "rdx" in an.liveness.before(three)
    # so %rdx is dead across the C call before the 2-argument handler
    work = [i.index for i in an.program.instructions if i.target_name == "fixture_do_work"]
    assert "rdx" not in an.liveness.after(work[1])


def test_el103_at_a_handler_reading_a_clobbered_argument():
    res = api.check(ENTRY, api.Options(root=TREE), select=["EL103"])
    got = sorted((f.location.line, f.message) for f in res.findings if f.id == "EL103")
    marked = [n for n, line in enumerate(ENTRY.read_text().splitlines(), 1) if "<- EL103" in line]
    assert [line for line, _ in got] == marked
    assert "%rdx is clobbered by the call to fixture_do_work()" in got[0][1]
    assert "call fixture_handle_three" in got[0][1]
    assert "fixture_leaky_thunk" in got[1][1]


def test_thunk_of_another_file_is_summarised_from_its_code():
    c = Callees(TREE, api.Options(root=TREE))
    keep = c("fixture_work_thunk")
    assert keep.kind == "asm" and keep.file == "arch/x86/entry/thunk_64.S"  # not thunk_32.S
    assert keep.clobbers == frozenset() and keep.gs  # it calls C, which may read per-cpu data
    leaky = c("fixture_leaky_thunk")
    assert leaky.kind == "asm" and leaky.clobbers == {"rdx"}
    # the symbol the THUNK macro defines is found through the macro's own body
    assert "arch/x86/entry/thunk_64.S" in asm_definitions(TREE)["fixture_work_thunk"]
    assert c("fixture_handle_two").reads == {"rdi", "rsi"} and c("fixture_handle_two").declared
    assert c("not_anywhere").kind == "c" and not c("not_anywhere").declared


def test_liveness_flows_through_what_a_thunk_preserves():
    an = _analysis()
    keep = [i.index for i in an.program.instructions if i.target_name == "fixture_work_thunk"][0]
    leaky = [i.index for i in an.program.instructions if i.target_name == "fixture_leaky_thunk"][0]
    # the value read after the call is the one written before it: the thunk does not kill %rdx
    assert "rdx" in an.liveness.after(keep) and "rdx" in an.liveness.before(keep)
    assert "rdx" in an.liveness.after(leaky) and "rdx" not in an.liveness.before(leaky)


@pytest.mark.parametrize("tree,name,file", [
    ("linux-4.9.154", "trace_hardirqs_off_thunk", "arch/x86/entry/thunk_64.S"),
    ("linux-5.15.135", "preempt_schedule_thunk", "arch/x86/entry/thunk_64.S"),
])
def test_kernel_thunks_keep_every_register(tree, name, file):
    root = shared_tree(tree)
    if root is None:
        pytest.skip(f"{tree} not available")
    c = Callees(Path(root), api.Options(root=Path(root), profile="max"))(name)
    assert (c.kind, c.file, c.clobbers) == ("asm", file, frozenset())


def test_32_bit_asm_callee_is_summarised_with_the_i386_abi():
    c = Callees(TREE, api.Options(root=TREE), kernel32=True)
    fix = c("fixture_fixup_32")
    assert fix.kind == "asm" and fix.file == "arch/x86/xen/fixup_32.S" and fix.clobbers == {"rax"}
    work = c("fixture_do_work")
    assert work.kind == "c" and work.clobbers == {"rax", "rcx", "rdx"}  # i386: not %esi/%edi
    # 32-bit code is summarised from the 32-bit file, never from thunk_64.S
    assert c("fixture_work_thunk").file == "arch/x86/entry/thunk_32.S"


def test_el103_in_32_bit_code_trusts_what_an_asm_helper_keeps():
    path = TREE / "arch" / "x86" / "entry" / "entry_callees_32.S"
    res = api.check(path, api.Options(root=TREE, profile="defconfig"), select=["EL103"])
    got = [f.location.line for f in res.findings if f.id == "EL103"]
    marked = [n for n, line in enumerate(path.read_text().splitlines(), 1) if "<- EL103" in line]
    assert got == marked


def _chain_tree(tmp_path: Path) -> Path:
    """outer_helper (outer.S) calls inner_helper (inner.S), which changes only
    %rdx: followed two files deep, outer_helper clobbers %rdx alone; one level
    less deep, inner_helper is an unknown call and outer_helper clobbers what a
    C call may."""
    lib = tmp_path / "arch" / "x86" / "lib"
    lib.mkdir(parents=True)
    (lib / "outer.S").write_text(
        "\t.text\n\t.globl outer_helper\n\t.type outer_helper, @function\nouter_helper:\n"
        "\tcall\tinner_helper\n\tret\n")
    (lib / "inner.S").write_text(
        "\t.text\n\t.globl inner_helper\n\t.type inner_helper, @function\ninner_helper:\n"
        "\tmovq\t$1, %rdx\n\tret\n")
    return tmp_path


def test_a_summary_does_not_depend_on_who_asked_for_it_first(tmp_path):
    """A summary made one level down (for another summary) follows its own
    calls less deep; the memo kept it for every later asker, so a long-lived
    process (the language server, a -j worker) answered by its history."""
    from entrylint.analysis import callees

    root = _chain_tree(tmp_path)
    opts = api.Options(root=root)
    fresh = Callees(root, opts)("outer_helper")
    assert fresh.kind == "asm" and fresh.clobbers == {"rdx"}
    callees._SUMMARIES.clear()
    deeper = Callees(root, opts, depth=1)("outer_helper")  # asked first from one level down
    assert deeper.clobbers != fresh.clobbers  # (what makes the order matter)
    assert Callees(root, opts)("outer_helper") == fresh


_RETPOLINE = """\
.macro THUNK reg
\t.text
\t.globl __fx_retpoline_\\reg
\t.type __fx_retpoline_\\reg, @function
__fx_retpoline_\\reg:
\tcall\t.Ldo_rop_\\@
.Lspec_trap_\\@:
\tpause
\tlfence
\tjmp\t.Lspec_trap_\\@
.Ldo_rop_\\@:
\tmov\t%\\reg, (%rsp)
\tret
.endm

#define GEN(reg) THUNK reg
#include <asm/GEN-regs.h>
"""


@pytest.mark.parametrize("reg, kind", [("r9", "opaque"), ("r12", "c")])
def test_a_thunk_named_by_a_head_and_a_cpp_list_is_asm(tmp_path, reg, kind):
    """5.10's retpoline.S defines ``__x86_retpoline_\\reg`` in a macro invoked
    through cpp (``#define GEN(reg) THUNK reg``, GEN-for-each-reg.h): no
    text search finds r9's.  A name with the head is looked up in the files
    whose macros define such names, expanded: there it is asm (a jump to
    *%r9 the walk cannot follow: opaque, so EL103 does not judge what it
    clobbers); a name the file does not define (r12 is not in the list)
    stays C."""
    from entrylint.analysis.asmindex import asm_heads

    (tmp_path / "arch" / "x86" / "include" / "asm").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "include" / "asm" / "GEN-regs.h").write_text("GEN(r9)\nGEN(r10)\n")
    (tmp_path / "arch" / "x86" / "lib").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "lib" / "retpoline.S").write_text(_RETPOLINE)
    crypto = tmp_path / "arch" / "x86" / "crypto"
    crypto.mkdir(parents=True)
    main = crypto / "fx.S"
    main.write_text(f"\t.text\n\t.globl fx_crypt\n\t.type fx_crypt, @function\nfx_crypt:\n"
                    f"\tcall\t__fx_retpoline_{reg}\n\tmovq\t(%rsi), %rax\n\tret\n")
    opts = api.Options(root=tmp_path)
    assert asm_heads(tmp_path) == {"__fx_retpoline_": ("arch/x86/lib/retpoline.S",)}
    got = Callees(tmp_path, opts)(f"__fx_retpoline_{reg}")
    assert got.kind == kind
    found = [f for f in api.check(main, opts, select=["EL103"]).findings if f.id == "EL103"]
    assert bool(found) is (kind == "c")
