"""Mutation harness (MODEL 7): single faults injected into the real entry
code of Debian's 6.12 and 6.1 and of ../shared/kernels' trees must be found
by their rule at the mutated line, with nothing else changing.  See
tools/mutate.py for what is accepted as "at the mutated line".

The full run (about 350 mutants) takes several minutes on 2 cores: the test
runs a deterministic subset (every 4th mutant of each class, always its
first; ENTRYLINT_MUTATION_EVERY=1 runs them all).  A class whose rule is not
registered yet is skipped, not failed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

import kernels

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))

import mutate  # noqa: E402

OLD = "linux-5.4.273"
STABLE = "linux-5.15.135"  # a stable tree whose backports are reviewed
STABLE510 = "linux-5.10.89"
SEED = "linux-4.14.98"  # page-table isolation as first backported to 4.14, the seed patch's series
LATE4 = "linux-4.19.48"  # 4.15-4.19 isolation: interrupt_entry, INT80's inline switch
V68 = "linux-6.8.1"  # 6.x before FRED, with 6.1's RESTORE_CR3
KAISER = "linux-4.9.154"  # the KAISER backport (asm/kaiser.h's switches)
KAISER44 = "linux-4.4.178"  # the same backport's 4.4 shape (a SYSCALL fast path)
KAISER_CLASSES = ("swap-exit", "c-call", "kernel-mem", "drop-exit-switch", "user-stack", "gs-before-swapgs")

pytestmark = [pytest.mark.kernel, pytest.mark.slow]


def test_sites_match_the_612_source(kernel_tree_612):
    """Every mutation site still holds the text it expects (numbering is 6.12's)."""
    mutate.set_target("6.12")
    errors = []
    for m in mutate.mutants():
        try:
            mutate.prepare(m)
        except mutate.SiteError as e:
            errors.append(f"{m.name}: {e}")
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("name, extra", [(OLD, set()), (STABLE, {"save-clobber", "gs-before-swapgs", "drop-fence",
                                                                  "drop-gate"}),
                                         (SEED, {"save-clobber", "gs-before-swapgs", "kernel-mem", "user-stack",
                                                 "drop-gate"}),
                                         (STABLE510, set()),
                                         (LATE4, {"save-clobber", "gs-before-swapgs", "kernel-mem", "user-stack",
                                                  "drop-gate", "drop-gate-32"}),
                                         (V68, {"save-clobber", "call-clobber", "gs-before-swapgs", "kernel-mem",
                                                "user-stack", "drop-fence", "drop-gate", "drop-gate-32"})])
def test_sites_match_the_older_sources(name, extra):
    """The tables of ../shared/kernels' trees: every site holds its text, every MODEL 7 class is there."""
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    mutate.set_target(name)
    try:
        errors, classes = [], set()
        for m in mutate.mutants():
            classes.add(m.cls)
            try:
                mutate.prepare(m)
            except mutate.SiteError as e:
                errors.append(f"{m.name}: {e}")
        assert not errors, "\n".join(errors)
        assert classes == set(mutate.MODEL7_CLASSES) | extra
    finally:
        mutate.set_target("6.12")


def test_enough_mutants_per_class(kernel_tree_612):
    mutate.set_target("6.12")
    ms = mutate.mutants()
    assert len(ms) >= 100
    by = {}
    for m in ms:
        by.setdefault(m.cls, []).append(m)
    assert set(by) == set(mutate.CLASSES)
    # every mutant changes the text, and only the mutated file
    for m in ms:
        mutate.prepare(m)
        assert m.text != "\n".join(mutate.sources()[m.file]) + "\n", m.name
        assert m.lines, m.name


def test_apply_keeps_numbering_for_blank_and_maps_inserts():
    src = ["a", "b", "swapgs", "SWITCH", "c"]
    text, lines, where = mutate.apply(src, [("blank", 2, "b"), ("ins", 3, "x")])
    assert text.split("\n")[:6] == ["a", "", "swapgs", "x", "SWITCH", "c"]
    assert lines == [2, 4] and where[4] == 5 and where[2] == 2
    text, lines, where = mutate.apply(src, [("move_before", 4, 3, "SWITCH", "swapgs")])
    assert text.split("\n")[:4] == ["a", "b", "SWITCH", "swapgs"] and lines == [3, 4]
    with pytest.raises(mutate.SiteError):
        mutate.apply(src, [("blank", 1, "nope")])


def test_model7_classes_are_detected_without_collateral(kernel_tree_612):
    """The issue's acceptance: each MODEL 7 class >= 95% at the mutated line, no collateral."""
    _check(list(mutate.MODEL7_CLASSES))


def test_model7_classes_on_an_older_tree():
    """The same acceptance on 5.4.273: interrupt_entry/error_entry helpers, paravirt exits."""
    if kernels.shared_tree(OLD) is None:
        pytest.skip(f"{OLD} not in ../shared/kernels")
    _check(list(mutate.MODEL7_CLASSES), OLD)


@pytest.mark.parametrize("name", [KAISER, KAISER44])
def test_sites_match_the_kaiser_source(name):
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    mutate.set_target(name)
    try:
        ms = mutate.mutants()
        for m in ms:
            mutate.prepare(m)
        assert {m.cls for m in ms} == set(KAISER_CLASSES)
    finally:
        mutate.set_target("6.12")


@pytest.mark.parametrize("name", [KAISER, KAISER44])
def test_kaiser_backport_classes(name):
    """On 4.9.154 and 4.4.178: a C call, a per-cpu read and a stack access on the user CR3."""
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    _check(["c-call", "kernel-mem", "user-stack"], name)


@pytest.mark.parametrize("name", [KAISER, KAISER44])
def test_kaiser_backport_exit_classes(name):
    """And the exit classes: INT80's switch dropped before its jump to
    entry_64.S's iret (found at the jump), and a %gs access on the user GS
    (EL302's alone: EL303, one finding for the file's unfenced SWAPGSes,
    stays where it was)."""
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    _check(["swap-exit", "drop-exit-switch", "gs-before-swapgs"], name)


def test_model7_classes_on_61():
    """And on Debian's 6.1 (fetched as 6.12 is): its sites, every MODEL 7 class there, each found."""
    mutate.set_target("6.1")
    try:
        why = mutate.tree_skip_reason()
        if why:
            pytest.skip(why)
        ms = mutate.mutants()
        for m in ms:
            mutate.prepare(m)
        assert {m.cls for m in ms} == set(mutate.MODEL7_CLASSES)
    finally:
        mutate.set_target("6.12")
    _check(list(mutate.MODEL7_CLASSES), "6.1")


@pytest.mark.parametrize("name", [STABLE, STABLE510, SEED, LATE4, V68])
def test_model7_classes_on_a_stable_tree(name):
    """And on 5.15.135 and 5.10.89, stable series whose backports are reviewed,
    on 4.14.98, whose SYSCALL enters through the cpu_entry_area trampoline,
    on 4.19.48 and on 6.8.1."""
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    _check(list(mutate.MODEL7_CLASSES), name)


@pytest.mark.parametrize("name", [SEED, LATE4])
def test_save_register_class(name):
    """A paranoid entry's saved CR3 overwritten -- zeroed, loaded from another
    register, or with the current CR3 read over it -- is EL102 at that line."""
    if kernels.shared_tree(name) is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    _check(["save-clobber"], name)


@pytest.mark.parametrize("name", ["6.12", V68])
def test_save_register_class_finds_every_mutant(name):
    """The same on 6.8.1 (its restore writes the saved value) and 6.12 (its
    restore tests the value's user bit first, and writes nothing for the
    kernel's): every mutant found.  (The ones inside the idtentry macros
    also give EL203 at the iretq, on a path the harness cannot tie to the
    macro body: collateral to it, so not asserted here.)"""
    mutate.set_target(name)
    try:
        why = mutate.tree_skip_reason()
        if why:
            pytest.skip(why)
        results, errors = mutate.run(["save-clobber"], every=1, jobs=2)
    finally:
        mutate.set_target("6.12")
    assert not errors, errors
    (row,) = mutate.table(results, mutate.registered_rules())
    assert row.detected == row.mutants, row.missed


@pytest.mark.parametrize("name", ["6.12", V68])
def test_gs_and_fence_classes_without_collateral(name):
    """A %gs access on the user GS is EL302's finding alone (EL303 does not
    also take it for a speculative one), and a fence dropped is EL303 at
    each SWAPGS it fenced."""
    _check(["gs-before-swapgs", "drop-fence", "call-clobber", "kernel-mem", "user-stack"], name)


@pytest.mark.xfail(strict=False, reason="known collateral of the classes beyond MODEL 7 (tools/mutate.py -v): "
                   "EL203 of clobbers inside the idtentry macros, on a path the harness cannot tie to the "
                   "macro body, and a PTI gate dropped serialising the espfix entry (its true EL303 goes)")
def test_extended_classes_are_detected_without_collateral(kernel_tree_612):
    _check([c for c in mutate.CLASSES if c not in mutate.MODEL7_CLASSES])


@pytest.mark.parametrize("name", ["6.12", V68, LATE4])
def test_32_bit_pti_sites_are_found_without_collateral(name):
    """entry_32.S under max, which builds it with PAE and so with PTI: a
    scratch pointed at a user register, a C call or a per-cpu read on the
    user CR3, an exit switch dropped, the note of the user CR3 in the saved
    CS or the switch back it asks for dropped, a gate dropped: every mutant.
    (4.19: the switch left without its gate runs on Xen PV's paths too,
    where the entry tuples know PTI is off.)"""
    _check(list(mutate.CLASSES), name, file=mutate.E32, every=1)


def _check(classes, target="6.12", file=None, every=None):
    mutate.set_target(target)
    why = mutate.tree_skip_reason()
    if why:
        pytest.skip(why)
    rules = mutate.registered_rules()
    measurable = [c for c in classes if mutate.CLASSES[c].rule in rules]
    if not measurable:
        pytest.skip("no rule of a mutation class is registered")
    every = every or int(os.environ.get("ENTRYLINT_MUTATION_EVERY", "4"))
    results, errors = mutate.run(measurable, every=every, jobs=2, file=file)
    assert not errors, errors
    rows = mutate.table(results, rules)
    print(mutate.render(rows))
    bad = []
    for r in rows:
        if r.detected < mutate.THRESHOLD * r.mutants:
            bad.append(f"{r.cls} ({r.rule}): {r.detected}/{r.mutants} detected; missed {r.missed[:5]}")
        if r.collateral:
            bad.append(f"{r.cls} ({r.rule}): collateral {r.collateral_list[:3]}")
    missing = sorted({mutate.CLASSES[c].rule for c in classes} - rules)
    if missing:
        print(f"not measured (rule not registered): {', '.join(missing)}")
    assert not bad, "\n".join(bad)
