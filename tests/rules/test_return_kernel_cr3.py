import pytest

from rulecheck import assert_fires_at_marks, assert_quiet, run_rule


def test_fires():
    assert_fires_at_marks("EL203", "return_kernel_cr3_fires.S")


def test_quiet():
    assert_quiet("return-kernel-cr3", "return_kernel_cr3_quiet.S")


def test_paranoid_return_must_restore_the_interrupted_cr3_and_gs():
    # MODEL 3 "Returns from paranoid entries": an NMI/#MC from the kernel that
    # found the user CR3 (or GS) must give it back to the code it interrupted
    assert_fires_at_marks("EL203", "return_kernel_cr3_paranoid_fires.S")
    got = [f.message for f in run_rule("EL203", "return_kernel_cr3_paranoid_fires.S")]
    assert got == ["iretq back to the interrupted context with the kernel CR3 it did not have",
                   "iretq back to the interrupted context with the kernel GS it did not have"]


def test_paranoid_return_that_restores_is_quiet():
    assert_quiet("return-kernel-cr3", "return_kernel_cr3_paranoid_quiet.S")


@pytest.mark.parametrize("tree", ["6.12", "6.1"])
def test_released_paranoid_exits_restore_what_they_found(tree):
    # the check is exercised on real code: paranoid entries from the kernel
    # that found the user CR3 reach an iretq to kernel mode, and what they
    # resume there is the user CR3 again (RESTORE_CR3 from %r14)
    import kernels
    from entrylint import api
    from entrylint.analysis.state import Feature

    root = kernels.tree_if_present(tree)
    if root is None:
        pytest.skip(kernels.tree_skip_reason(tree))
    an = api.analyze(root / "arch/x86/entry/entry_64.S", api.Options(root=root, profile="max"))
    fw = an.forward
    found = [(fw.resumed(n, t), s) for (n, t), arr in fw.kernel_returns.items() for k, s in arr
             if k == "paranoid" and s.cr3.value == "user" and t.feature("X86_FEATURE_PTI") is not Feature.OFF]
    assert found
    assert all(r.cr3.value == "user" for r, _ in found)
    assert not run_rule("EL203", root / "arch/x86/entry/entry_64.S", root=root, profile="max")
