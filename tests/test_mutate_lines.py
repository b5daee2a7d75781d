"""tools/mutate_lines.py: a site table written for one release of a Debian
tree still names the right lines of the release fetched (Debian's 6.1
moved from 6.1.176 to 6.1.190+, five lines added to entry_64.S)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import mutate  # noqa: E402
import mutate_lines  # noqa: E402
import mutate_sites  # noqa: E402

OLD = ["SYM_CODE_START(e)", "\tswapgs", "\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rsp", "\tpushq\t%rax",
       "\tcall\tf", "\tpopq\t%rax", "\tjmp\t1f", "\tnop", "1:\tiretq", "SYM_CODE_END(e)"]
# two lines added after line 4, line 8 changed
NEW = OLD[:4] + ["", "\tHANDLE_INTR_SAFERET 8(%rsp)"] + OLD[4:7] + ["\tlfence"] + OLD[8:]


@pytest.fixture
def recorded(tmp_path, monkeypatch):
    d = tmp_path / "old" / "arch" / "x86" / "entry"
    d.mkdir(parents=True)
    (d / "e.S").write_text("\n".join(OLD) + "\n")
    monkeypatch.setattr(mutate_lines, "RECORD", tmp_path / "lines.json")
    mutate_lines.record("fake", "fake 1.0", tmp_path / "old", ["e.S"])
    return tmp_path


def test_lines_are_carried_past_an_insertion_and_left_out_where_changed(recorded):
    release, table = mutate_lines.maps("fake", {"e.S": NEW})
    assert release == "fake 1.0"
    assert [table["e.S"].get(L) for L in range(1, 11)] == [1, 2, 3, 4, 7, 8, 9, None, 11, 12]
    assert mutate_lines.moved_op(table, "e.S", ("sub", 3, "x", "a", "b")) == ("sub", 3, "x", "a", "b")
    assert mutate_lines.moved_op(table, "e.S", ("move_before", 5, 2, "call", "swapgs")) == \
        ("move_before", 7, 2, "call", "swapgs")
    with pytest.raises(mutate_lines.Unmapped):
        mutate_lines.moved_op(table, "e.S", ("blank", 8, "nop"))
    with pytest.raises(mutate_lines.Unmapped):  # lines 4..5 are no longer one block
        mutate_lines.moved_op(table, "e.S", ("move_block_after", 4, 5, 9))
    # the same file: no map; a target without a record: none either
    assert mutate_lines.maps("fake", {"e.S": OLD})[1] == {"e.S": None}
    assert mutate_lines.maps("other", {"e.S": NEW}) == (None, {})


def test_a_table_names_the_fetched_trees_lines(recorded, monkeypatch):
    """mutate.mutants() carries every line of a table (ops, expected
    findings elsewhere, lines the table reads) and leaves out a mutant on a
    changed line, naming it."""
    def sites_fake(add, src_line):
        add("c-call", "e.S", [("ins", 4, "\tcall\tx")], "e.S:+4", extra=(("e.S", 9),))
        add("drop-exit-switch", "e.S", [("blank", 9, "iretq")], "e.S:9", note=src_line("e.S", 9))
        add("drop-fence", "e.S", [("blank", 8, "nop")], "e.S:8", note=repr(src_line("e.S", 8)))

    monkeypatch.setitem(mutate.TARGETS, "fake", ("shared", "sites_fake"))
    monkeypatch.setattr(mutate_sites, "sites_fake", sites_fake, raising=False)
    monkeypatch.setattr(mutate, "sources", lambda: {"e.S": NEW})
    mutate.set_target("fake")
    try:
        ms = mutate.mutants()
        assert [(m.name, m.ops, m.extra, m.note) for m in ms] == [
            ("c-call/e.S:+4", (("ins", 4, "\tcall\tx"),), (("e.S", 11),), ""),
            ("drop-exit-switch/e.S:9", (("blank", 11, "iretq"),), (), "1:\tiretq")]
        assert mutate.LEFT_OUT == ["drop-fence/e.S:8: e.S:8 is in a part the tree fetched changed"]
        text = mutate.apply(NEW, ms[1].ops)[0]
        assert "iretq" not in text and "HANDLE_INTR_SAFERET" in text
    finally:
        mutate.set_target("6.12")
