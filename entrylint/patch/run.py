"""``entrylint --patch FILE|-``, ``--git REV|A..B`` and ``entrylint`` with no
PATH (the bundled series): the patch face of the command line.

With no PATH and no patch, entrylint reviews the series bundled with the
project (fixtures/kaiser-2017-series/, written here in the style of the
2017 KAISER series) against the bundled 2017-style tree
(fixtures/kaiser-2017): the main job on an embedded default.
"""

from __future__ import annotations

import sys
from pathlib import Path

from entrylint.patch.parse import PatchError, parse

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


def bundled() -> tuple[Path, Path]:
    """(the 2017-style tree, its patch series)."""
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    return fixtures / "kaiser-2017", fixtures / "kaiser-2017-series"


def bundled_series_text(folder: Path) -> str:
    """The series as one mbox: its ``*.patch`` files in name order."""
    return "".join(p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.patch")))


def read_patch(name, opts) -> str:
    """The patch file (or stdin for ``-``), read within the patch-size limit:
    a larger one is refused with PatchError (exit 2, one line naming the
    limit and ``--limit patch-size=N``), as a review of part of a patch would
    pass what it did not read."""
    cap = opts.limits.patch_size
    if str(name) == "-":
        data = sys.stdin.buffer.read(cap + 1)
    else:
        with open(name, "rb") as fh:
            data = fh.read(cap + 1)
    _within_patch_size(len(data), str(name), opts)
    return data.decode("utf-8", "surrogateescape")


def _within_patch_size(n: int, what: str, opts) -> None:
    from entrylint.source.limits import hit

    if n > opts.limits.patch_size:
        raise PatchError(hit(opts.limits, "patch-size", f"{what} is larger than {opts.limits.patch_size} bytes"))


def run(args, opts, select, ignore, rule_options, fail_on: str) -> int:
    """Review, print, and return the exit code (0 clean, 1 an introduced
    finding at or above ``fail_on``).  Raises PatchError / OSError for the
    caller's one-line message."""
    from entrylint.patch.review import git_series, git_toplevel, review

    base = None
    if args.patch is None and args.git is None:
        root, series = bundled()
        if args.root is None:
            opts.root = root
        text = bundled_series_text(series)
    else:
        root = args.root or git_toplevel(Path.cwd())
        if root is None:
            raise PatchError("no --root given and the current folder is not in a git tree: "
                             "name the tree the patches apply to with --root DIR")
        root = Path(root).resolve()
        if args.git is not None:
            text, base = git_series(root, args.git)
            _within_patch_size(len(text.encode("utf-8", "surrogateescape")), f"the series {args.git}", opts)
        else:
            text = read_patch(args.patch, opts)
    root = Path(opts.root or root).resolve()
    patches = parse(text)
    reports = review(patches, root, opts, select, ignore, rule_options, base)
    fmt = args.format
    from entrylint.patch import report

    if fmt == "json":
        out = report.render_json(reports, root, args.show_existing)
    elif fmt == "b4-json":
        out = report.render_b4_json(reports, root)
    elif fmt in ("sarif", "gcc", "github"):
        from entrylint.report import gcc, github, sarif

        results = [(root, f) for r in reports for f in (r.introduced + (r.existing if args.show_existing else []))]
        n = sum(r.lines for r in reports)
        nfiles = len({x for r in reports for x in r.files})
        out = {"gcc": lambda: gcc.render(results, nfiles, n), "github": lambda: github.render(results, nfiles, n),
               "sarif": lambda: sarif.render(results, nfiles, n, exit_code=0, root=root)}[fmt]()
    else:
        default = args.patch is None and args.git is None
        out = report.render_text(reports, root, terse=args.terse, showfile=args.showfile, summary=args.summary,
                                 show_existing=args.show_existing, brief=default and not args.terse)
        if default and not args.terse:
            out = (f"entrylint: the bundled example, a 2017-style patch series ({series.name}) reviewed "
                   f"in memory against {root.name}.\nentrylint PATH checks files; entrylint --patch FILE "
                   f"reviews your patches.\n\n") + out
    sys.stdout.write(out)
    worst = max((SEVERITY_RANK[f.severity.value] for r in reports for f in r.introduced), default=-1)
    return 1 if worst >= SEVERITY_RANK[fail_on] and fmt != "b4-json" else 0
