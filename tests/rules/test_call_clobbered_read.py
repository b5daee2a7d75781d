import pytest
from rulecheck import assert_fires_at_marks, assert_quiet, lines_of, run_rule


def test_fires():
    assert_fires_at_marks("EL103", "call_clobbered_read_fires.S")


def test_quiet():
    assert_quiet("call-clobbered-read", "call_clobbered_read_quiet.S")


def test_names_registers_and_reader():
    by_line = {f.location.line: f.message for f in run_rule("EL103", "call_clobbered_read_fires.S")}
    assert by_line[14].startswith("%rdx is clobbered by the call to do_syscall_64()")
    assert "%rax" not in by_line[19] and "the exit to user mode" in by_line[19]
    assert "syscall_exit_work" in by_line[19]


def test_preserving_option():
    found = run_rule("EL103", "call_clobbered_read_fires.S")
    assert found
    from rulecheck import FIXTURES

    from entrylint import api
    res = api.check(FIXTURES / "call_clobbered_read_fires.S", api.Options(), select=["EL103"],
                    rule_options={"call-clobbered-read": {"preserving": ["syscall_exit_work"]}})
    # syscall_exit_work declared as preserving: do_syscall_64's clobber of %rdx remains,
    # fixture_handler's at the ERETS through a frame the function did not build, and
    # fixture_prepare's of the subleaf cpuid reads, and the call of a C function
    # named like a static call's trampoline
    later = lines_of(FIXTURES / "call_clobbered_read_fires.S", "fires: %")[2:]
    assert sorted(f.location.line for f in res.findings if f.id == "EL103") == [14, 47, *later]


def _bfs(search, node, reg):
    """The search without its pruning: what every node of the program gives."""
    from collections import deque

    from entrylint.analysis.liveness import succ_nodes

    todo, seen = deque(succ_nodes(search.analysis.cfg, node)), set()
    while todo:
        v = todo.popleft()
        if v in seen:
            continue
        seen.add(v)
        n = search._nodes[v]
        if n.reads(reg):
            return search.analysis.program.instructions[v]
        if not n.ends(reg):
            todo.extend(n.next)
    return None


def test_the_pruned_search_finds_what_the_whole_search_finds():
    """Search.first leaves out the nodes from which no reader of the register
    can be reached; the reader it finds must be the one the search over
    every node finds (the nearest, ties in successor order), from every C
    call of real entry code and of the fixtures, for every register."""
    from pathlib import Path

    from entrylint_rules.call_clobbered_read import Search, _callees
    from rulecheck import FIXTURES

    from entrylint.program.decode import find_assembler

    if find_assembler() is None:
        pytest.skip("no GNU as: no instruction is known to be a call")
    from entrylint import api
    from entrylint.analysis.liveness import Procedures
    from entrylint.analysis.regs import GPRS

    repo = Path(__file__).resolve().parents[2]
    files = [repo / "fixtures/kaiser-2017/arch/x86/entry/entry_64.S", FIXTURES / "call_clobbered_read_fires.S",
             FIXTURES / "call_clobbered_read_fires_32.S", FIXTURES / "call_clobbered_read_quiet.S"]
    asked = found = 0
    for f in files:
        an = api.analyze(f, api.Options(profile="max"))
        procs = an.procedures or Procedures.build(an.program, an.cfg)
        for callee in (_callees(an), None):
            s = Search(an, procs, callee)
            for ins in an.program.instructions:
                if not s.c_call(ins):
                    continue
                for r in GPRS:
                    got = s.first(ins.index, r)
                    assert got is _bfs(s, ins.index, r), (f.name, ins.text, r)
                    asked += 1
                    found += got is not None
    assert asked > 100 and 0 < found < asked, (asked, found)


def test_the_table_with_a_callee_is_the_one_without_but_where_a_callee_is_asked(monkeypatch):
    """The search with a callee (this rule's) takes the table of the search
    without one (live-scratch's, made once per analysis for both) but at the
    calls and jumps, whose node it makes itself: each node is what its own
    ``_node`` gives."""
    from pathlib import Path

    from entrylint_rules.call_clobbered_read import _ASKING, Search, _callees
    from rulecheck import FIXTURES

    from entrylint import api
    from entrylint.analysis.liveness import Procedures

    made: list = []
    real = Search._node
    monkeypatch.setattr(Search, "_node", lambda self, v: made.append((self.callee is not None, v)) or real(self, v))
    repo = Path(__file__).resolve().parents[2]
    for f in (repo / "fixtures/kaiser-2017/arch/x86/entry/entry_64.S", FIXTURES / "call_clobbered_read_fires.S"):
        made.clear()
        res = api.check(f, api.Options(profile="max"), select=["EL103", "live-scratch"], keep_analysis=True)
        an = res.analysis
        total = an.cfg.n + len(an.program.forks)
        without = [v for c, v in made if not c]
        assert sorted(without) == list(range(total))  # once, for both rules
        P = an.program.instructions
        asking = {v for v in range(an.cfg.n) if P[v].info is not None and P[v].info.flow in _ASKING}
        assert 0 < len(asking) < total and sorted(v for c, v in made if c) == sorted(asking)
        procs = an.procedures or Procedures.build(an.program, an.cfg)
        s = Search(an, procs, _callees(an))
        table = s._table()
        whole = [real(s, v)[0] for v in range(total)]
        assert [(n.read, n.end, n.read_all, n.end_all, n.next) for n in table] == \
               [(n.read, n.end, n.read_all, n.end_all, n.next) for n in whole]


def test_a_value_the_code_never_had_is_not_clobbered(tmp_path):
    """A function C calls receives what its C declaration passes: after a C
    call, saving a caller-saved register it never wrote and never received
    (ACPI's do_suspend_lowlevel stores them all into saved_context) loses
    nothing.  Without the declaration every argument register is received."""
    from entrylint import api

    (tmp_path / "arch" / "x86" / "include" / "asm").mkdir(parents=True)
    (tmp_path / "arch" / "x86" / "kernel").mkdir(parents=True)
    src = tmp_path / "arch" / "x86" / "kernel" / "low.S"
    src.write_text("\t.text\n\t.globl low\n\t.type low, @function\nlow:\n\tpushq %rbx\n"
                   "\tmovq %rsi, %rbx\n"  # the second argument, kept
                   "\tcall prepare\n"
                   "\tmovq %rdi, saved_rdi(%rip)\n"  # received only if declared with an argument
                   "\tmovq %r10, saved_r10(%rip)\n"  # never received, never written
                   "\tmovq %rbx, saved_rbx(%rip)\n\tpopq %rbx\n\tret\n")

    def lines():
        res = api.check(src, api.Options(root=tmp_path, profile="defconfig"), select=["EL103"])
        return sorted(f.location.line for f in res.findings)

    assert lines() == [8]  # no declaration: %rdi may be an argument
    (tmp_path / "arch" / "x86" / "kernel" / "low.h").write_text("extern void low(void);\n")
    assert lines() == []
    (tmp_path / "arch" / "x86" / "kernel" / "low.h").write_text("extern void low(long a, long b);\n")
    assert lines() == [8]
