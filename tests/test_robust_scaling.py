"""Costs that grow with the size of a file grow linearly (issue 9): found by
tools/fuzz.py on limit-sized macro expansions (macro:5 of seed 1: 312,480
statements, 62,496 labels), where entry classification read every statement
once per symbol and took minutes."""

from __future__ import annotations

from pathlib import Path

from entrylint import api
from entrylint.analysis import entries


class CountingList(list):
    passes = 0

    def __iter__(self):
        CountingList.passes += 1
        return super().__iter__()


def test_entry_classification_is_one_pass_over_the_statements():
    text = "".join(f"f{i}:\n nop\n" for i in range(500))
    an = api.analyze(Path("/nonexistent/scale/f.S"), api.Options(assemble=False, profile="max"), text=text)
    program = an.program
    assert len(program.symbols) >= 500
    program.statements = CountingList(program.statements)
    CountingList.passes = 0
    again = entries.find_entries(program, an.cfg)
    assert CountingList.passes <= 2  # not one per symbol
    assert [e.symbol for e in again] == [e.symbol for e in an.entries]
    labels = entries.label_macros(program)
    assert labels["f0"] == () and len(labels) >= 500
