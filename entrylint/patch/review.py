"""Review a patch series as a reviewer does (issue 12): what each patch
introduces and fixes.

For patch k of a series, "before" is the tree with patches 1..k-1 applied
and "after" the tree with patch k applied too, both in memory (apply.py, an
overlay of the source layer).  The files judged are the ``.S`` files the
patch touches and those of the entry folder (and the header's own folder)
that include a header it touches, directly or through another header.
Findings are matched by rule and fingerprint (MODEL 2.8: stable across
unrelated edits): present after and not before is **introduced**, present
before and not after is **fixed**, in both is **existing**.

A patch whose result the tree already has (``b4 prep --check`` pipes each
patch of the branch it has checked out) is judged the other way round:
"before" is the tree with the patch taken out in memory.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections import Counter
from dataclasses import field, replace
from pathlib import Path

from entrylint.findings.model import numbered
from entrylint.patch.apply import Applied, TreeState, safe_path
from entrylint.patch.parse import Patch, PatchError
from entrylint.source import overlay
from entrylint.source.record import data


@data
class PatchReport:
    patch: Patch
    applied: Applied
    introduced: list = field(default_factory=list)  # Finding, in the tree after the patch
    fixed: list = field(default_factory=list)  # Finding, in the tree before it
    existing: list = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # rel paths judged
    lines: int = 0
    notes: list[str] = field(default_factory=list)

    def patch_line(self, f) -> int | None:
        """The line of the patch that added the finding's line, if it did."""
        if f.location is None:
            return None
        rel = _rel(f.location.file, self.applied_root)
        return self.applied.added.get(rel, {}).get(f.location.line) if rel else None

    applied_root: Path = Path(".")
    after: TreeState | None = None  # the tree after the patch (in memory)

    def after_text(self, rel: str) -> str | None:
        try:
            return self.after.read(rel) if self.after is not None else None
        except (PatchError, OSError):
            return None


def _rel(file: str, root: Path) -> str | None:
    try:
        return Path(os.path.realpath(file)).relative_to(os.path.realpath(root)).as_posix()
    except ValueError:
        return None


_INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def files_to_check(state: TreeState, touched: list[str]) -> list[str]:
    """The ``.S`` files a change of ``touched`` can change the findings of."""
    from entrylint.source.tree import is_linker_script

    out = {t for t in touched if t.endswith(".S") and not is_linker_script(Path(t))
           and state.files.get(t, "") is not None}
    headers = {Path(t).name for t in touched if t.endswith(".h")}
    if not headers:
        return sorted(out)
    folders = {Path(t).parent.as_posix() for t in touched if t.endswith(".h")} | {"arch/x86/entry"}
    with overlay.using(state.overlay()):
        texts: dict[str, str] = {}
        for folder in sorted(folders):
            base = state.root / folder
            if not base.is_dir():
                continue
            found = [p for p in base.rglob("*") if p.suffix in (".S", ".h") and p.is_file()]
            found += [p for p in state.overlay().new_files(base) if p.suffix in (".S", ".h")]
            for p in found:
                rel = p.relative_to(state.root).as_posix() if p.is_absolute() else p.as_posix()
                rel = _rel(str(p), state.root) or rel
                try:
                    texts[rel] = overlay.read_text(p, errors="replace")
                except OSError:
                    continue
    includes = {rel: {Path(n).name for n in _INCLUDE.findall(t)} for rel, t in texts.items()}
    grew = True
    while grew:  # a header that includes a touched header is touched too
        grew = False
        for rel, names in includes.items():
            if rel.endswith(".h") and Path(rel).name not in headers and names & headers:
                headers.add(Path(rel).name)
                grew = True
    out |= {rel for rel, names in includes.items()
            if rel.endswith(".S") and names & headers and not is_linker_script(Path(rel))}
    return sorted(out)


class Reviewer:
    """Checks files in states of the tree, each (state, file) once."""

    def __init__(self, root: Path, options, select=None, ignore=(), rule_options=None) -> None:
        from entrylint import api

        self.root = Path(root)
        self.options = replace(options, root=self.root)
        self.select, self.ignore = select, ignore
        self.rule_options = rule_options or {}
        self.rule_set = api.rules()
        self._done: dict[tuple[int, str], tuple[list, int]] = {}

    def check(self, sid: int, state: TreeState, rel: str) -> tuple[list, int]:
        key = (sid, rel)
        if key in self._done:
            return self._done[key]
        from entrylint import api
        from entrylint.findings import suppress

        if state.read(rel) is None:  # not in this state of the tree
            self._done[key] = ([], 0)
            return self._done[key]
        # the tree's caches key on what it reads (overlay.generation()): this
        # state never meets another's entries
        with overlay.using(state.overlay()):
            path = self.root / rel
            text = overlay.read_text(path)
            res = api.check(path, self.options, select=self.select, ignore=self.ignore, text=text,
                            rule_set=self.rule_set, rule_options=self.rule_options)
            found = suppress.apply(res.findings, {str(path.resolve()): text})
        self._done[key] = (found, len(text.splitlines()))
        return self._done[key]


def _applies(state: TreeState, patch: Patch, reverse: bool) -> bool:
    try:
        state.copy().apply(patch, reverse=reverse, fuzz=False)
        return True
    except PatchError:
        return False


def _key(f) -> tuple[str, str]:
    return (f.id, f.fingerprint)


def _paired(old: list, new: list, added: dict) -> tuple[list, list, list]:
    """(introduced, existing, fixed) of a file's findings before and after a
    patch, matched by rule and fingerprint as many times as each occurs: a
    fingerprint leaves line numbers out (MODEL 2.8), so a second fault with
    the same text in the same symbol has the first one's, and is still a
    new one.  Of the findings that share one, those on lines the patch
    added (``added``: file line -> patch line) are the introduced ones
    first, then the last; of the old ones, the last are the fixed ones
    (findings.model.numbered)."""
    old_n, new_n = Counter(map(_key, old)), Counter(map(_key, new))
    introduced = set()
    for k in [k for k in new_n if new_n[k] > old_n[k]]:
        ranked = sorted(((f.location is not None and f.location.line in added, i, f)
                         for i, f in enumerate(new) if _key(f) == k), key=lambda x: x[:2], reverse=True)
        introduced.update(id(f) for *_, f in ranked[:new_n[k] - old_n[k]])
    fixed = [f for (rule, fp, k), f in numbered(old) if k >= new_n[(rule, fp)]]
    return [f for f in new if id(f) in introduced], [f for f in new if id(f) not in introduced], fixed


def review(patches: list[Patch], root: Path, options, select=None, ignore=(), rule_options=None,
           base: TreeState | None = None) -> list[PatchReport]:
    """Apply ``patches`` in order over ``base`` (default: the tree as on
    disk) and judge each; PatchError when one cannot be placed."""
    # a path that leaves the root refuses the whole series: say so before
    # any patch is judged (a bad path in patch 3 cost the review of 1 and 2)
    for patch in patches:
        for fd in patch.files:
            for name in (fd.old, fd.new):
                if name is not None:
                    safe_path(Path(root), name)
    rv = Reviewer(root, options, select, ignore, rule_options)
    state = base.copy() if base is not None else TreeState(root)
    sid = 0  # id of ``state``: each state of the tree gets its own, for the checks' memo
    ids = iter(range(1, 1 << 30))
    reports = []
    for patch in patches:
        before, before_sid = state, sid
        after = state.copy()
        try:
            applied = after.apply(patch, fuzz=False)  # all or nothing
            already = False
        except PatchError:
            # not as it stands: is the result in the tree already (exactly), else place it with fuzz
            already, applied = _applies(state, patch, reverse=True), None
            if not already:
                try:
                    applied = after.apply(patch)
                    already = applied.hunks > 0 and len(applied.skipped) == applied.hunks
                except PatchError:
                    already = False
                    after.apply(patch)  # raise: the message names the file and the hunk
        notes = []
        if already:
            # the tree has this patch already (b4 prep): take it out in memory
            rev = state.copy()
            rev.apply(patch, reverse=True)
            before, before_sid = rev, next(ids)
            after = rev.copy()
            applied = after.apply(patch)
            notes.append(f"{patch.label}: the tree has this patch applied already: judged against "
                         f"the tree without it")
            after = state  # the same contents; its checks are shared
        else:
            sid = next(ids)
        notes += applied.skipped
        files = files_to_check(after, applied.files)
        rep = PatchReport(patch, applied, files=files, notes=notes, applied_root=Path(root), after=after)
        for rel in files:
            old, _ = rv.check(before_sid, before, rel)
            new, n = rv.check(sid, after, rel)
            rep.lines += n
            introduced, existing, fixed = _paired(old, new, applied.added.get(rel, {}))
            rep.introduced += introduced
            rep.existing += existing
            rep.fixed += fixed
        reports.append(rep)
        state = after
    return reports


# -- git -----------------------------------------------------------------------

def _git(root: Path, *args: str) -> str:
    proc = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                          errors="surrogateescape")
    if proc.returncode != 0:
        raise PatchError(f"git {' '.join(args)}: {proc.stderr.strip() or 'failed'}")
    return proc.stdout


def git_toplevel(cwd: Path) -> Path | None:
    proc = subprocess.run(["git", "-C", str(cwd), "rev-parse", "--show-toplevel"], capture_output=True, text=True)
    return Path(proc.stdout.strip()) if proc.returncode == 0 and proc.stdout.strip() else None


def git_series(root: Path, rev: str) -> tuple[str, TreeState]:
    """``--git REV`` (one commit) or ``--git A..B``: the format-patch text of
    the commits and the tree at the base commit, in memory (the files that
    differ between the working tree and the base hold the base's contents)."""
    if ".." in rev:
        a, _, b = rev.partition("..")
        a, b = a or "HEAD", b or "HEAD"
        base = _git(root, "rev-parse", "--verify", a + "^{commit}").strip()
        text = _git(root, "format-patch", "--stdout", "--no-signature", f"{a}..{b}")
    else:
        one = _git(root, "rev-parse", "--verify", rev + "^{commit}").strip()
        base = _git(root, "rev-parse", "--verify", one + "^").strip()
        text = _git(root, "format-patch", "--stdout", "--no-signature", "-1", one)
    if not text.strip():
        raise PatchError(f"--git {rev}: no commits")
    state = TreeState(root)
    for rel in _git(root, "diff", "--name-only", "--no-renames", base).splitlines():
        proc = subprocess.run(["git", "-C", str(root), "show", f"{base}:{rel}"], capture_output=True)
        state.files[rel] = proc.stdout.decode("utf-8", "surrogateescape") if proc.returncode == 0 else None
    return text, state
