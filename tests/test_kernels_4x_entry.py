"""The CLI on all of arch/x86/entry of 4.19.48 and 5.4.273 (../shared/kernels):
the 64-bit entry files report nothing but the true positives documented in
TP-NOTES-B.md.

Two views:

- each built-in profile with the paravirt options off (CONFIG_PARAVIRT*, XEN):
  exactly the documented true positives (paravirt patch sites are another
  class of issue 8, and make SWAPGS a call);
- each built-in profile as it is: none of the classes this file is about
  (C calls, kernel memory and the user stack with the user CR3 or %rsp after
  the stack-switching helpers, the trampoline-era SYSCALL).

Findings of classes other helpers own (listed in ``OTHERS`` with the reason)
are allowed there, not required: they go away when that work lands.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kernels import shared_tree

PROFILES = ("max", "defconfig", "pti-off")
PARAVIRT = ("CONFIG_PARAVIRT", "CONFIG_PARAVIRT_XXL", "CONFIG_PARAVIRT_SPINLOCKS", "CONFIG_XEN", "CONFIG_XEN_PV")
FILES = ("arch/x86/entry/entry_64.S", "arch/x86/entry/entry_64_compat.S")

# TP-NOTES-B.md: (file, rule, symbol)
TPS = {
    "linux-4.19.48": {
        # no FENCE_SWAPGS yet (4.19.65): one finding for the file, at its first
        # conditional swapgs (interrupt_entry); nmi, error_entry (before call
        # sync_regs), paranoid_entry (before its ret) and the espfix swapgs of
        # native_irq_return_ldt are its places (PLACES)
        ("arch/x86/entry/entry_64.S", "EL303", "interrupt_entry"),
    },
    "linux-5.4.273": {
        ("arch/x86/entry/entry_64.S", "EL303", "native_irq_return_ldt"),
    },
}
OTHERS = {
    ("arch/x86/entry/entry_64.S", "EL103", "native_load_gs_index"):
        "helper D: trace_hardirqs_off_thunk (thunk_64.S) taken for C by liveness",
    ("arch/x86/entry/entry_64.S", "EL203", "native_usergs_sysret64"):
        "helper C: a paravirt native target taken for a function called from C",
}
MY_CLASSES = ("EL201", "EL202", "EL204")


# the other places of a file's one EL303 where the tree has no SWAPGS fences
PLACES = {"linux-4.19.48": 4}


def _run(tree, *args) -> list[dict]:
    proc = subprocess.run([sys.executable, "-m", "entrylint", "--root", str(tree), "--format", "json", *args,
                           str(tree / "arch/x86/entry")], capture_output=True, text=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr
    return [f for f in json.loads(proc.stdout)["findings"]
            if f["severity"] in ("error", "warning") and f["file"] in FILES]


def _findings(tree, *args) -> set[tuple[str, str, str]]:
    return {(f["file"], f["id"], f.get("symbol") or "") for f in _run(tree, *args)}


def _tree(name):
    tree = shared_tree(name)
    if tree is None:
        pytest.skip(f"{name} not in ../shared/kernels")
    return tree


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(TPS))
def test_64bit_entry_reports_only_documented_tps_without_paravirt(name, profile, tmp_path):
    from entrylint.cpp.config import Kconfig

    tree = _tree(name)
    cfg = Kconfig.from_profile(profile).with_overrides({s: None for s in PARAVIRT})
    dotconfig = tmp_path / ".config"
    dotconfig.write_text("".join(f"{k}={v}\n" for k, v in sorted(cfg.values.items())))
    got = _run(tree, "--config", dotconfig)
    found = {(f["file"], f["id"], f.get("symbol") or "") for f in got}
    assert found - set(OTHERS) == TPS[name]
    if name in PLACES:
        (el303,) = [f for f in got if f["id"] == "EL303" and f["file"].endswith("entry_64.S")]
        assert el303["sites_kind"] == "places" and len(el303["sites"]) >= PLACES[name]


@pytest.mark.kernel
@pytest.mark.slow
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("name", sorted(TPS))
def test_64bit_entry_classes_of_this_file_are_quiet(name, profile):
    tree = _tree(name)
    found = _findings(tree, "--profile", profile)
    assert {f for f in found if f[1] in MY_CLASSES} == set()
    # the only EL203 left is a paravirt native target (helper C), not the
    # trampoline-era SYSCALL path or ignore_sysret
    assert {f for f in found if f[1] == "EL203"} <= set(OTHERS)
