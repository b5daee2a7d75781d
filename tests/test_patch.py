"""Patch review (issue 12): reading patches as mail delivers them, applying
them in memory, what each patch of a series introduces and fixes, refused
paths, the bundled example, and the seed on the 4.14.5 tree."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from entrylint import api
from entrylint.patch.apply import TreeState
from entrylint.patch.parse import PatchError, parse

REPO = Path(__file__).resolve().parents[1]
SEED = Path("/work/shared/seed/kaiser-v1-01-review.txt")
if not SEED.is_file():
    SEED = REPO.parent / "shared" / "seed" / "kaiser-v1-01-review.txt"


def cli(*args, cwd=REPO, stdin=None):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-m", "entrylint", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=cwd, input=stdin, timeout=600)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file() and not p.is_symlink():
            h.update(p.relative_to(root).as_posix().encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


# -- a small tree and a patch of it, written here ------------------------------------

ENTRY = """\
#include "calling.h"

	.section .entry.text, "ax"
ENTRY(entry_SYSCALL_64)
	swapgs
	movq	%rsp, %gs:rsp_scratch
	call	do_syscall_64
	swapgs
	sysretq
END(entry_SYSCALL_64)
"""

CALLING = """\
#define ENTRY(name)	.globl name ; name:
#define END(name)	.size name, .-name
"""


def small_tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "arch/x86/entry").mkdir(parents=True)
    (root / "arch/x86/entry/entry_64.S").write_text(ENTRY)
    (root / "arch/x86/entry/calling.h").write_text(CALLING)
    (root / "Kconfig").write_text("config X86_64\n\tdef_bool y\n")
    return root


PATCH = """\
From 1111111111111111111111111111111111111111 Mon Sep 17 00:00:00 2001
From: A Developer <dev@example.org>
Date: Tue, 31 Oct 2017 15:03:48 -0700
Subject: [PATCH 1/1] x86/entry: test a bit of the saved flags

Signed-off-by: A Developer <dev@example.org>
---
 arch/x86/entry/entry_64.S | 2 ++
 1 file changed, 2 insertions(+)

diff --git a/arch/x86/entry/entry_64.S b/arch/x86/entry/entry_64.S
--- a/arch/x86/entry/entry_64.S
+++ b/arch/x86/entry/entry_64.S
@@ -5,6 +5,8 @@ ENTRY(entry_SYSCALL_64)
 	swapgs
 	movq	%rsp, %gs:rsp_scratch
 	call	do_syscall_64
+	bt	$9, %r11
+	jz	1f
 	swapgs
 	sysretq
 END(entry_SYSCALL_64)
-- 
2.39.5
"""

WANT = ENTRY.replace("\tcall\tdo_syscall_64\n", "\tcall\tdo_syscall_64\n\tbt\t$9, %r11\n\tjz\t1f\n")


def applied(tmp_path, text):
    root = small_tree(tmp_path)
    (p,) = parse(text)
    st = TreeState(root)
    st.apply(p)
    return p, st.files["arch/x86/entry/entry_64.S"]


def test_plain_format_patch(tmp_path):
    p, text = applied(tmp_path, PATCH)
    assert p.label == "1/1" and p.subject == "x86/entry: test a bit of the saved flags"
    assert text == WANT


# -- the seed: a quoted reply, tabs turned into spaces --------------------------------

def test_seed_parses_into_its_file_diffs_and_hunks():
    (p,) = parse(SEED.read_text())
    assert p.label == "1/23"
    assert [f.path for f in p.files] == ["arch/x86/entry/calling.h", "arch/x86/entry/entry_64_compat.S",
                                          "arch/x86/entry/entry_64.S"]
    assert [len(f.hunks) for f in p.files] == [2, 6, 14]
    # every hunk's body holds exactly the lines its header counts
    for f in p.files:
        for h in f.hunks:
            assert len(h.old()) == h.old_len and len(h.new()) == h.new_len


# -- one test per kind of mail damage -------------------------------------------------

def test_crlf(tmp_path):
    assert applied(tmp_path, PATCH.replace("\n", "\r\n"))[1] == WANT


def test_quoted_reply(tmp_path):
    quoted = "On Tue, A Developer wrote:\n" + "".join("> " + ln + "\n" for ln in PATCH.splitlines()) + \
        "\nThis needs a config option.\n"
    assert applied(tmp_path, quoted)[1] == WANT


def test_tabs_turned_into_spaces(tmp_path):
    p, text = applied(tmp_path, PATCH.replace("\t", "        "))
    lines = text.splitlines()
    # context keeps the tree's own text; the added lines are the patch's
    assert lines[4] == "\tswapgs" and lines[7].split() == ["bt", "$9,", "%r11"]


def test_context_lines_that_lost_their_space(tmp_path):
    damaged = PATCH.replace("\n \tswapgs\n", "\n\tswapgs\n").replace("\n END(entry_SYSCALL_64)\n",
                                                                      "\nEND(entry_SYSCALL_64)\n")
    assert damaged != PATCH
    assert applied(tmp_path, damaged)[1] == WANT


def test_signature_and_list_footer(tmp_path):
    footer = PATCH + "\n_______________________________________________\nsome-list mailing list\n" \
                     "-- \nA Developer\n"
    assert applied(tmp_path, footer)[1] == WANT


def test_wrapped_header(tmp_path):
    wrapped = PATCH.replace("Subject: [PATCH 1/1] x86/entry: test a bit of the saved flags",
                            "Subject: [PATCH 1/1] x86/entry: test a bit\n of the saved flags")
    p, text = applied(tmp_path, wrapped)
    assert p.subject == "x86/entry: test a bit of the saved flags" and text == WANT


def test_a_hunk_that_cannot_be_placed_is_named(tmp_path):
    bad = PATCH.replace("+\tbt\t$9, %r11\n", "-\tnot_in_the_tree\n+\tbt\t$9, %r11\n").replace(
        "@@ -5,6 +5,8 @@", "@@ -5,7 +5,8 @@")
    with pytest.raises(PatchError, match=r"arch/x86/entry/entry_64.S: hunk 1 of 1 \(@@ -5,7 \+5,8 @@"):
        applied(tmp_path, bad)


# -- refused paths ------------------------------------------------------------------

def _renamed(path: str) -> str:
    return PATCH.replace("a/arch/x86/entry/entry_64.S", f"a/{path}").replace("b/arch/x86/entry/entry_64.S",
                                                                             f"b/{path}")


@pytest.mark.parametrize("path, why", [("../outside.S", "'..'"), ("arch/../../outside.S", "'..'")])
def test_refuses_dotdot(tmp_path, path, why):
    with pytest.raises(PatchError, match=f"refused: the path leaves the tree root .* through {why}"):
        applied(tmp_path, _renamed(path))


def test_refuses_absolute(tmp_path):
    text = PATCH.replace("--- a/arch/x86/entry/entry_64.S", "--- /etc/entry_64.S").replace(
        "+++ b/arch/x86/entry/entry_64.S", "+++ /etc/entry_64.S")
    with pytest.raises(PatchError, match="refused: an absolute path"):
        applied(tmp_path, text)


def test_refuses_a_symlink_out_of_the_tree(tmp_path):
    outside = tmp_path / "outside"
    (outside / "entry").mkdir(parents=True)
    (outside / "entry" / "entry_64.S").write_text(ENTRY)
    root = small_tree(tmp_path)
    (root / "arch/x86/linked").symlink_to(outside)
    (p,) = parse(_renamed("arch/x86/linked/entry/entry_64.S"))
    with pytest.raises(PatchError, match="through a symlink"):
        TreeState(root).apply(p)
    assert (outside / "entry" / "entry_64.S").read_text() == ENTRY


def test_cli_refuses_with_one_line(tmp_path):
    root = small_tree(tmp_path)
    proc = cli("--patch", "-", "--root", root, stdin=_renamed("../x.S"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.startswith("entrylint: ../x.S: refused") and proc.stderr.count("\n") == 1


def test_a_bad_path_anywhere_in_a_series_refuses_it_before_any_patch_is_judged(tmp_path, monkeypatch):
    # fuzz patch:11777 (seed 13): patches 1 and 2 were judged (2.5 s) before
    # patch 3's ../outside.S refused the series, in every output format
    from entrylint.patch import review as rv

    root = small_tree(tmp_path)
    judged = []
    monkeypatch.setattr(rv.Reviewer, "check", lambda self, *a: judged.append(a) or ([], 0))
    with pytest.raises(PatchError, match="outside.S: refused: the path leaves the tree root"):
        rv.review(parse(series() + _renamed("../outside.S")), root, api.Options())
    assert judged == []


# -- a series of three: patch 2 introduces a finding, patch 3 fixes it -----------------

def series() -> str:
    p1 = PATCH.replace("[PATCH 1/1] x86/entry: test a bit of the saved flags", "[PATCH 1/3] x86/entry: comment")
    p1 = p1[:p1.index("diff --git")] + """\
diff --git a/arch/x86/entry/entry_64.S b/arch/x86/entry/entry_64.S
--- a/arch/x86/entry/entry_64.S
+++ b/arch/x86/entry/entry_64.S
@@ -1,3 +1,4 @@
+/* the 64-bit SYSCALL entry */
 #include "calling.h"
 
 	.section .entry.text, "ax"
"""
    p2 = PATCH.replace("[PATCH 1/1]", "[PATCH 2/3]").replace(
        "@@ -5,6 +5,8 @@", "@@ -6,6 +6,8 @@").replace("1111111111", "2222222222")
    p3 = PATCH.replace("[PATCH 1/1] x86/entry: test a bit of the saved flags",
                       "[PATCH 3/3] x86/entry: bt sets CF, test CF").replace("1111111111", "3333333333")
    p3 = p3[:p3.index("diff --git")] + """\
diff --git a/arch/x86/entry/entry_64.S b/arch/x86/entry/entry_64.S
--- a/arch/x86/entry/entry_64.S
+++ b/arch/x86/entry/entry_64.S
@@ -7,7 +7,7 @@ ENTRY(entry_SYSCALL_64)
 	movq	%rsp, %gs:rsp_scratch
 	call	do_syscall_64
 	bt	$9, %r11
-	jz	1f
+	jnc	1f
 	swapgs
 	sysretq
 END(entry_SYSCALL_64)
"""
    return p1 + p2 + p3


def test_series_introduced_then_fixed_and_the_tree_unchanged(tmp_path):
    root = small_tree(tmp_path)
    before = tree_hash(root)
    proc = cli("--patch", "-", "--root", root, "--format", "json", "--select", "EL501", stdin=series())
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    rows = [(f["patch"], f["status"], f["id"]) for f in data["findings"]]
    assert rows == [("2/3", "introduced", "EL501"), ("3/3", "fixed", "EL501")]
    intro = data["findings"][0]
    # the line the patch added, and where that line is in the patch (its message)
    assert intro["line"] == 10 and intro["patch_line"] is not None
    assert [p["introduced"] for p in data["patches"]] == [0, 1, 0]
    assert [p["fixed"] for p in data["patches"]] == [0, 0, 1]
    assert tree_hash(root) == before


TWICE = """\
From 4444444444444444444444444444444444444444 Mon Sep 17 00:00:00 2001
From: A Developer <dev@example.org>
Date: Tue, 31 Oct 2017 15:03:48 -0700
Subject: [PATCH] x86/entry: test the saved flags once more

Signed-off-by: A Developer <dev@example.org>
---
 arch/x86/entry/entry_64.S | 3 +++
 1 file changed, 3 insertions(+)

diff --git a/arch/x86/entry/entry_64.S b/arch/x86/entry/entry_64.S
--- a/arch/x86/entry/entry_64.S
+++ b/arch/x86/entry/entry_64.S
@@ -8,6 +8,9 @@ ENTRY(entry_SYSCALL_64)
 	bt	$9, %r11
 	jz	1f
 1:
+	bt	$9, %r11
+	jz	1f
+1:
 	swapgs
 	sysretq
 END(entry_SYSCALL_64)
-- 
2.39.5
"""


def test_a_second_fault_with_the_same_text_is_introduced(tmp_path):
    """A finding's fingerprint leaves line numbers out: a patch that repeats
    a faulty line of the same symbol makes a finding with the fingerprint of
    the one already there.  It is introduced (at the line added), not taken
    for the old one; the old one is existing."""
    root = small_tree(tmp_path)
    entry = root / "arch/x86/entry/entry_64.S"
    entry.write_text(WANT.replace("\tjz\t1f\n", "\tjz\t1f\n1:\n"))
    proc = cli("--patch", "-", "--root", root, "--format", "json", "--select", "EL501", stdin=TWICE)
    data = json.loads(proc.stdout)
    assert [(f["status"], f["line"]) for f in data["findings"]] == [("introduced", 12)], proc.stdout
    assert (data["patches"][0]["introduced"], data["patches"][0]["existing"]) == (1, 1) and proc.returncode == 1


def test_series_text_points_into_the_patch(tmp_path):
    root = small_tree(tmp_path)
    proc = cli("--patch", "-", "--root", root, "--select", "EL501", stdin=series())
    out = proc.stdout
    msg2 = series().split("\nFrom 2222")[1].splitlines()
    nn = next(i for i, ln in enumerate(msg2, 1) if ln.startswith("+\tjz"))  # line 1: the From line
    assert f"#{nn}: FILE: arch/x86/entry/entry_64.S:10:" in out
    assert "FIXED:EL501:flag-misuse" in out and out.index("PATCH 2/3") < out.index("#") < out.index("PATCH 3/3")


def test_terse_is_b4_shaped(tmp_path):
    root = small_tree(tmp_path)
    one = series().split("\nFrom 2222")[0] + "\n"  # patch 1 alone: nothing to say
    clean = cli("--patch", "-", "--root", root, "--terse", "--no-summary", "--showfile", stdin=one)
    assert clean.returncode == 0 and clean.stdout == "" and clean.stderr == ""
    bad = cli("--patch", "-", "--root", root, "--terse", "--no-summary", "--showfile", stdin=PATCH)
    assert bad.stderr == ""
    assert bad.stdout.splitlines() == [
        "arch/x86/entry/entry_64.S:8: WARNING:EL103:call-clobbered-read: %r11 is clobbered by the call to "
        "do_syscall_64() and read later by bt $9, %r11",
        "arch/x86/entry/entry_64.S:9: WARNING:EL501:flag-misuse: jz tests ZF, but bt $9, %r11 does not set it"]
    b4j = json.loads(cli("--patch", "-", "--root", root, "--format", "b4-json", stdin=PATCH).stdout)
    assert b4j[0]["tool"] == "entrylint" and b4j[0]["status"] == "warn" and set(b4j[0]) == {
        "tool", "status", "summary", "url", "details"}


def test_git_range(tmp_path):
    root = small_tree(tmp_path)
    git = ["git", "-C", str(root)]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "-c", "user.name=T", "-c", "user.email=t@example.org", "add", "-A"], check=True)
    subprocess.run([*git, "-c", "user.name=T", "-c", "user.email=t@example.org", "commit", "-qm", "base"],
                   check=True)
    subprocess.run([*git, "-c", "user.name=T", "-c", "user.email=t@example.org", "am", "-q"], input=PATCH,
                   text=True, check=True)
    before = tree_hash(root)
    proc = cli("--git", "HEAD~1..HEAD", "--format", "json", "--select", "EL501", cwd=root)
    data = json.loads(proc.stdout)
    assert [(f["status"], f["id"]) for f in data["findings"]] == [("introduced", "EL501")]
    proc = cli("--git", "HEAD", "--format", "json", "--select", "EL501", cwd=root)
    assert [(f["status"], f["id"]) for f in json.loads(proc.stdout)["findings"]] == [("introduced", "EL501")]
    assert tree_hash(root) == before


# -- the bundled example: `entrylint` with no PATH ------------------------------------

def test_no_path_reviews_the_bundled_series_on_one_screen():
    before = tree_hash(REPO / "fixtures" / "kaiser-2017")
    proc = cli()
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert len(lines) <= 50
    found = [ln for ln in lines if ":EL" in ln and not ln.startswith(" ")]
    # what the seed's reviewer said comes first: the switch is not under a config option
    assert "EL401:missing-config-guard" in found[0]
    # and the faults later kernels fixed
    for rule in ("EL202", "EL501", "EL101", "EL301"):
        assert any(f":{rule}:" in ln for ln in found), rule
    # the IRQ-tracing call before the late switch: a later step of the entry's
    # first harm (the user CR3 came with the entry: one fault, MODEL 8)
    from tests.test_seed_tree import line

    call = f"arch/x86/entry/entry_64.S:{line('arch/x86/entry/entry_64.S', 'TRACE_IRQS_OFF')}"
    assert any(ln.startswith("    in 1 later step: ") and ln.endswith(call) for ln in lines)
    # no fault printed twice
    assert len(found) == len(set(found))
    assert tree_hash(REPO / "fixtures" / "kaiser-2017") == before


# -- the seed on a kernel from before PTI ---------------------------------------------

@pytest.mark.slow
def test_seed_on_4_14_5_as_its_reviewer_saw_it():
    from tests.kernels import shared_tree

    tree = shared_tree("linux-4.14.5")
    if tree is None:
        pytest.skip("linux-4.14.5 not in the shared kernels")
    before = tree_hash(tree / "arch" / "x86" / "entry")
    proc = cli("--patch", SEED, "--root", tree)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "PATCH 1/23: x86, kaiser: prepare assembly for entry/exit CR3 switching"
    # 4.14.5 already has the first hunk's result (TRACE_IRQS_OFF moved): said, not fatal
    assert any(ln.startswith("NOTE: 1/23: arch/x86/entry/entry_64.S: hunk 1 of 14") for ln in lines)
    first = next(i for i, ln in enumerate(lines) if ln.startswith(("ERROR", "WARNING", "CHECK")))
    # the reviewer's point first: the switch is compiled whether or not the option is set
    assert lines[first].startswith("ERROR:EL401:missing-config-guard")
    assert lines[first + 1].startswith("#") and ": FILE: arch/x86/entry/calling.h:" in lines[first + 1]
    # no fault printed twice: each (rule, place) once; the IRQ entry that never
    # switches is one finding at its first C call, the rest its later steps
    heads = [(ln.split(":")[1], lines[i + 1].split("FILE: ")[1]) for i, ln in enumerate(lines)
             if ln.startswith(("ERROR:", "WARNING:", "CHECK:"))]
    assert len(heads) == len(set(heads))
    irq = [i for i, ln in enumerate(lines) if ln.startswith("ERROR:EL201:") and "trace_hardirqs_off_thunk" in ln]
    assert len(irq) == 1 and "FILE: arch/x86/entry/entry_64.S:" in lines[irq[0] + 1]
    assert any(ln.startswith("    in ") and "later steps: " in ln for ln in lines[irq[0]:irq[0] + 8])
    assert tree_hash(tree / "arch" / "x86" / "entry") == before


# -- b4: entrylint as the per-patch check command of a real b4 -------------------------

def _b4(args, repo, env):
    return subprocess.run([sys.executable, "-c", "import sys; from b4.command import cmd; sys.argv[0] = 'b4'; cmd()",
                           *args], cwd=repo, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_b4_prep_check(tmp_path):
    pytest.importorskip("b4")
    tree, series = REPO / "fixtures" / "kaiser-2017", REPO / "fixtures" / "kaiser-2017-series"
    patches = sorted(series.glob("*.patch"))
    repo = tmp_path / "linux"
    import shutil

    shutil.copytree(tree, repo)
    env = dict(os.environ, PYTHONPATH=str(REPO), XDG_CACHE_HOME=str(tmp_path / "cache"),
               XDG_DATA_HOME=str(tmp_path / "data"), XDG_CONFIG_HOME=str(tmp_path / "config"),
               HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", NO_COLOR="1")

    def git(*args, **kw):
        return subprocess.run(["git", "-c", "user.name=T", "-c", "user.email=t@example.org", *args], cwd=repo,
                              env=env, check=True, capture_output=True, text=True, **kw)

    git("init", "-q", "-b", "master")
    git("add", "-A")
    git("commit", "-qm", "base")
    git("am", "-q", str(patches[0]))  # the macros: the base the faulty patch applies to
    git("config", "user.name", "T")
    git("config", "user.email", "t@example.org")
    # the README's line; the installed script when there is one (b4 names a line by the command's name)
    script = Path(sys.executable).parent / "entrylint"
    cmd = str(script) if script.is_file() else f"{sys.executable} -m entrylint"
    name = Path(cmd.split()[0]).name
    git("config", "b4.prep-perpatch-check-cmd", f"{cmd} --patch - --terse --no-summary --showfile")
    # a faulty patch: the second of the bundled series
    assert _b4(["prep", "-n", "faulty", "-f", "master"], repo, env).returncode == 0
    git("am", "-q", str(patches[1]))
    out = _b4(["prep", "--check", "--no-cache"], repo, env)
    text = out.stdout + out.stderr
    assert f"{name}: arch/x86/entry/calling.h:16: ERROR:EL401:missing-config-guard" in text, text
    assert "WARNING:EL402:missing-runtime-gate" in text and "WARNING:EL501:flag-misuse" in text
    # a clean patch: a comment
    git("checkout", "-q", "master")
    assert _b4(["prep", "-n", "clean", "-f", "master"], repo, env).returncode == 0
    src = repo / "arch/x86/entry/entry_64.S"
    src.write_text(src.read_text().replace("#include \"calling.h\"\n", "#include \"calling.h\"\n/* entries */\n"))
    git("commit", "-qam", "x86/entry: a comment")
    out = _b4(["prep", "--check", "--no-cache"], repo, env)
    text = out.stdout + out.stderr
    assert "Success: 1, Warning: 0, Error: 0" in text, text
    # b4 prep shows a clean patch by its subject alone; the report its check makes of it (the same
    # call b4 prep --check and b4 am --check make, on the patch b4 formats) says so in words
    probe = ("import b4, b4.ez, sys, shlex\nfrom b4.command import setup_parser\n"
             "b4.setup_config(setup_parser().parse_args(['prep', '--check']))\n"
             "_, _, _, patches = b4.ez.get_prep_branch_as_patches(expandprereqs=False)\n"
             "commit, msg = patches[-1]\n"
             "cmd = shlex.split(b4.ez.get_check_cmds()[0][0])\n"
             "print(b4.LoreMessage.run_local_check(cmd, commit, msg, nocache=True))\n")
    got = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=env, capture_output=True, text=True,
                         timeout=600)
    assert f"('success', '{name}: passed all checks')" in got.stdout, got.stdout + got.stderr
