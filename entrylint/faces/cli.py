"""The command line.

    entrylint [OPTIONS] [PATH...]          check files or a kernel tree
    entrylint expand [OPTIONS] FILE        the expanded program with traces
    entrylint explain [OPTIONS] FILE[:LINE] the states, live registers and flags at a line
    entrylint rules | entrylint rule ID|SLUG   the rules and their documentation
    entrylint lsp                          the language server (stdio; the lsp extra)

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or internal
error (one line on stderr; a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from entrylint import __version__

SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


class _Parser(argparse.ArgumentParser):
    """argparse with the CLI's promise for usage errors: one line on stderr, exit 2."""

    def error(self, message: str):
        sys.stderr.write(f"{self.prog}: {one_line(message)} (see {self.prog} --help)\n")
        sys.exit(2)


def _define(s: str) -> tuple[str, str | None]:
    name, eq, val = s.partition("=")
    if not name.isidentifier():
        raise argparse.ArgumentTypeError(f"bad -D {s!r}")
    return name, (val if eq else None)


def _common(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("reading the source")
    g.add_argument("--root", type=Path, help="kernel tree root (default: searched upward from each file)")
    g.add_argument("--build", type=Path, metavar="DIR",
                   help="an O= build folder: its generated headers, and its .config unless --config/--profile")
    g.add_argument("--config", type=Path, metavar="FILE", help="a kernel .config")
    g.add_argument("--profile", choices=("max", "defconfig", "pti-off"),
                   help="one built-in configuration profile (a check judges all three by default and says which each finding holds under; expand and explain default to defconfig)")
    g.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME[=VAL]")
    g.add_argument("-U", dest="undefines", action="append", default=[], metavar="NAME")
    g.add_argument("-I", dest="include", action="append", type=Path, default=[], metavar="DIR")
    g.add_argument("--no-assemble", action="store_true",
                   help="do not run GNU as / the decoder (no register and flag effects)")
    g.add_argument("--limit", action="append", default=[], metavar="NAME=N",
                   help="raise (or lower) one of the limits that keep a run bounded; an EL906 limit-hit "
                        "finding names the limit it hit (names: " + ", ".join(_limit_names()) + ")")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    ap.add_argument("--version", action="version", version=f"entrylint {__version__}")


def _limit_names() -> tuple[str, ...]:
    from entrylint.source.limits import Limits

    return Limits.names()


def _options(args):
    from entrylint.api import Options
    from entrylint.source.limits import DEFAULT

    limits = DEFAULT
    for spec in args.limit:
        try:
            limits = limits.parse(spec)
        except ValueError as e:
            raise _Usage(str(e)) from None

    if args.config is not None and not args.config.is_file():
        raise _Usage(f"--config {args.config}: no such file")
    if args.root is not None and not args.root.is_dir():
        raise _Usage(f"--root {args.root}: no such folder")
    if args.build is not None and not args.build.is_dir():
        raise _Usage(f"--build {args.build}: no such folder")
    return Options(root=args.root, build=args.build, include=tuple(args.include),
                   defines=dict(args.defines), undefines=tuple(args.undefines), config=args.config,
                   profile=args.profile, assemble=not args.no_assemble, limits=limits)


class _Usage(Exception):
    pass


def _parser_expand() -> argparse.ArgumentParser:
    ap = _Parser(prog="entrylint expand",
                                 description="Show the expanded program of a .S file: every instruction "
                                             "with the line it came from and its macro expansion trace.")
    ap.add_argument("file", type=Path)
    ap.add_argument("--format", choices=("text", "json"), default="text")
    _common(ap)
    return ap


def _parser_check() -> argparse.ArgumentParser:
    ap = _Parser(prog="entrylint",
                                 description="Check x86-64 kernel entry assembly. With no PATH, the bundled "
                                             "patch series is reviewed against the bundled 2017-style tree "
                                             "(fixtures/kaiser-2017); give a path (e.g. fixtures) to check files.",
                                 epilog="Subcommands: entrylint expand FILE (see entrylint expand --help).")
    ap.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="files, folders, a kernel tree, or -")
    ap.add_argument("--fail-on", choices=("error", "warning", "info"), default=None,
                    help="exit 1 when a finding is at least this severe (default: warning)")
    ap.add_argument("--format", choices=FORMATS, default="text",
                    help="text (checkpatch style, default), json (MODEL 8), sarif (SARIF 2.1.0, for GitHub "
                         "code scanning), gcc (file:line:col: error: ...), github (workflow commands)")
    _output_options(ap)
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                    help="check N files at a time; a single file: its profiles in two processes "
                         "(default: the number of cores)")
    ap.add_argument("--no-cache", action="store_true",
                    help="neither read nor write the result cache ($ENTRYLINT_CACHE_DIR, else "
                         "$XDG_CACHE_HOME/entrylint/results)")
    ap.add_argument("--select", action="append", metavar="RULES", help="only these rules (ids, slugs, prefixes)")
    ap.add_argument("--ignore", action="append", metavar="RULES", help="not these rules")
    g = ap.add_argument_group("reviewing patches (applied in memory; the tree is never written)")
    g.add_argument("--patch", type=Path, metavar="FILE|-",
                   help="git format-patch output, an mbox series or a unified diff (mail damage repaired): "
                        "what each patch introduces and fixes")
    g.add_argument("--git", metavar="REV|A..B", help="review a commit or a range of the git tree --root names")
    g.add_argument("--show-existing", action="store_true",
                   help="with --patch/--git: also the findings the tree had before the patch")
    ap.add_argument("--baseline", type=Path, metavar="FILE", help="show only findings not in this baseline")
    ap.add_argument("--write-baseline", type=Path, metavar="FILE", help="write the findings as a baseline")
    _common(ap)
    return ap


FORMATS = ("text", "json", "sarif", "gcc", "github", "b4-json")


def _output_options(ap: argparse.ArgumentParser) -> None:
    g = ap.add_argument_group("text output (checkpatch.pl's options)")
    g.add_argument("--terse", action="store_true",
                   help="one line per finding: FILE:LINE: ERROR:EL201:slug: message")
    g.add_argument("--emacs", action="store_true", help="start each finding with FILE:LINE:")
    g.add_argument("--showfile", action="store_true",
                   help="print FILE:LINE: instead of the #LINE: FILE: line (entrylint checks files, so the "
                        "file and input positions are the same)")
    g.add_argument("--no-summary", dest="summary", action="store_false", help="no closing total: line")
    g.add_argument("--show-types", action="store_true",
                   help="accepted for checkpatch compatibility: the type (id:slug) is always shown")
    g.add_argument("--color", "--colour", nargs="?", const="always", default="auto",
                   choices=("auto", "always", "never"),
                   help="colour and a highlighted excerpt; auto: only on a terminal and when NO_COLOR is unset")


def _use_color(when: str, stream) -> bool:
    import os

    if when != "auto":
        return when == "always"
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _render(args, results, nfiles: int, nlines: int, exit_code: int, root) -> str:
    """The format dispatch: report/ owns every format, this face only prints."""
    # each format's module is imported when chosen (sarif_om alone takes 0.1 s)
    if args.format == "json":
        from entrylint.report import findings_json
        return findings_json.render(results, nfiles, nlines)
    if args.format == "sarif":
        from entrylint.report import sarif
        return sarif.render(results, nfiles, nlines, exit_code=exit_code, root=root)
    if args.format == "gcc":
        from entrylint.report import gcc
        return gcc.render(results, nfiles, nlines)
    if args.format == "github":
        from entrylint.report import github
        return github.render(results, nfiles, nlines)
    from entrylint.report import text
    style = text.TextStyle(terse=args.terse, emacs=args.emacs, showfile=args.showfile, summary=args.summary,
                           color=_use_color(args.color, sys.stdout))
    return text.render(results, nfiles, nlines, style=style)


def bundled_fixtures() -> Path:
    return Path(__file__).resolve().parents[2] / "fixtures"


def cmd_expand(argv: list[str]) -> int:
    from entrylint import api
    from entrylint.report import expand as rep

    args = _parser_expand().parse_args(argv)
    try:
        opts = _options(args)
        if not args.file.is_file():
            raise _Usage(f"{args.file}: no such file")
        opts.layout = args.format == "json" and opts.assemble
        exp = api.expand(args.file, opts)
        sys.stdout.write(rep.to_json(exp) if args.format == "json" else rep.to_text(exp))
        return 0
    except (_Usage, api.UsageError) as e:
        return _fail(str(e), args.debug)
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, not a traceback
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def _parser_explain() -> argparse.ArgumentParser:
    ap = _Parser(prog="entrylint explain",
                                 description="Where am I: the CR3/GS/stack tuples, live registers and "
                                             "flags before and after each instruction of a line "
                                             "(FILE:LINE) or of every line (FILE).")
    ap.add_argument("target", metavar="FILE[:LINE]")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    _common(ap)
    return ap


def cmd_explain(argv: list[str]) -> int:
    from entrylint import api
    from entrylint.report import explain as rep

    args = _parser_explain().parse_args(argv)
    try:
        opts = _options(args)
        file, line = args.target, None
        head, sep, tail = args.target.rpartition(":")
        if sep and tail.isascii() and tail.isdigit():  # (not `²`: a digit int() refuses)
            # a number past any file's length is read as one (Python refuses 4300 digits or more)
            file, line = head, int(tail) if len(tail) <= 18 else 10**18
        path = Path(file)
        if not path.is_file():
            raise _Usage(f"{file}: no such file")
        an = api.analyze(path, opts)
        sys.stdout.write(rep.to_json(an, line) if args.format == "json" else rep.to_text(an, line))
        return 0
    except (_Usage, api.UsageError) as e:
        return _fail(str(e), args.debug)
    except Exception as e:  # noqa: BLE001
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def cmd_check(argv: list[str]) -> int:
    from entrylint import api
    from entrylint.findings import suppress
    from entrylint.patch import PatchError
    from entrylint.plugins.manager import PluginError
    from entrylint.source.settings import SettingsError, find_settings

    args = _parser_check().parse_args(argv)
    from entrylint import cache

    facts_were = cache.facts_enabled
    cache.facts_enabled = not args.no_cache  # facts of the tree kept on disk beside the results
    try:
        settings = find_settings(Path.cwd())
        opts = _options(args)
        if args.profile is None and settings.get("profile"):
            opts.profile = settings.get("profile")
        select = _names(args.select) or settings.get("select")
        ignore = _names(args.ignore) or settings.get("ignore") or ()
        fail_on = args.fail_on or settings.get("fail-on", "warning")
        if args.patch is not None or args.git is not None or not args.paths:
            # a patch review (issue 12); with no PATH, the bundled series
            from entrylint.patch.run import run as run_patch

            return run_patch(args, opts, select, ignore, settings.get("rules", {}), fail_on)
        if args.format == "b4-json":
            raise _Usage("--format b4-json reports on patches: use it with --patch or --git")
        paths = args.paths
        for p in paths:
            if str(p) != "-" and not p.exists():
                raise _Usage(f"{p}: no such file or folder")
        # the rules are loaded when a file is checked (a result from the cache needs none)
        rule_set = api.rules() if args.no_cache else None
        results, nlines, files = [], 0, []
        stdin_text = sys.stdin.read() if any(str(p) == "-" for p in paths) else None
        from entrylint.source.tree import source_files

        todo = source_files([p for p in paths if str(p) != "-"]) + (
            [Path("<stdin>.S")] if stdin_text is not None else [])
        job = (opts, select, ignore, settings.get("rules", {}), not args.no_cache)
        # a process of its own ends soon after: the cyclic collector would
        # only walk a heap the exit frees (heap.gc_paused pauses it per file;
        # the workers of -j collect between their files)
        import gc

        if _OWN_PROCESS:
            gc.disable()
        hits = _cached_results(todo, job) if stdin_text is None else {}
        rest = [f for f in todo if f not in hits]  # only these are checked
        if args.jobs > 1 and len(rest) > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(min(args.jobs, len(rest)), initializer=gc.enable) as ex:
                hits.update(zip(rest, ex.map(_check_one, rest, [job] * len(rest))))
        else:
            if _OWN_PROCESS and len(rest) > 1:
                # several files one after another: the collector runs as in a
                # -j worker (heap.gc_paused: paused while a file is checked,
                # what the file leaves alive frozen, thawed every 16th file).
                # Not a full collection after each file: it found 759 objects
                # to free in all 163 files of arch/x86, and walking what each
                # file left alive (caches of the tree) cost 0.84 s of 10.8
                gc.freeze()
                gc.enable()
            # one file and cores to spare: its later profiles in a process apart (api.check)
            jobs = args.jobs if len(rest) == 1 else 1
            for f in rest:
                hits[f] = _check_one(f, job, stdin_text if str(f) == "<stdin>.S" else None, rule_set, jobs)
        done = [hits[f] for f in todo]
        for f, (root, found, n) in zip(todo, done):
            results += [(root, x) for x in found]
            nlines += n
            files.append(f)
        all_findings = [x for _, x in results]
        if args.write_baseline:
            suppress.write_baseline(args.write_baseline, all_findings)
        baseline = args.baseline or (Path(settings.get("baseline")) if settings.get("baseline") else None)
        if baseline:
            kept = set(map(id, suppress.filter_baseline([x for _, x in results], suppress.read_baseline(baseline))))
            results = [(r, x) for r, x in results if id(x) in kept]
        worst = max((SEVERITY_RANK[x.severity.value] for _, x in results), default=-1)
        code = 1 if worst >= SEVERITY_RANK[fail_on] else 0
        sys.stdout.write(_render(args, results, len(files), nlines, code, opts.root))
        return code
    except (_Usage, api.UsageError, PluginError, SettingsError, PatchError, ValueError, OSError) as e:
        return _fail(str(e), args.debug)
    except Exception as e:  # noqa: BLE001
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)
    finally:
        cache.facts_enabled = facts_were


_OWN_PROCESS = False  # main() runs as the process (its heap is freed at exit)


def _check_one(f: Path, job, text_in: str | None = None, rule_set=None, jobs: int = 1):
    """Check one file (in this process or a worker): (root, findings, lines);
    ``jobs``: the processes its profiles may take (api.check)."""
    from entrylint import api
    from entrylint.findings import suppress

    opts, select, ignore, rule_options, use_cache = job

    def run():
        res = api.check(f, opts, select=select, ignore=ignore, text=text_in, rule_set=rule_set,
                        rule_options=rule_options, keep_analysis=False, jobs=jobs)
        found = suppress.apply(res.findings, {str(Path(f).resolve()) if text_in is None else str(f): text_in})
        n = len(res.text.splitlines()) if res.text is not None else 0  # the text already read
        return res.root, found, n

    if text_in is not None:
        return run()
    from entrylint import cache

    return cache.cached(_cache_parts(f, job), run, enabled=use_cache)


def _cache_parts(f: Path, job) -> tuple:
    """What a file's result depends on besides the files it reads (entrylint/cache.py)."""
    from entrylint import cache

    opts, select, ignore, rule_options, _ = job
    return ("check", os.getcwd(), str(f), opts, select, ignore, rule_options, cache.plugins_id())


def _cached_results(todo: list[Path], job) -> dict:
    """The files whose result the cache holds, looked up in this process
    (a worker pool is started only for the others)."""
    if not job[-1]:
        return {}
    from entrylint import cache

    out = {}
    for f in todo:
        got = cache.lookup(cache.key_of(_cache_parts(f, job)))
        if got is not None:
            out[f] = got
    return out


def _names(values) -> list[str] | None:
    out = [n for v in values or () for n in v.split(",") if n.strip()]
    return out or None


def cmd_rules(argv: list[str], one: bool) -> int:
    from entrylint import api
    from entrylint.plugins.manager import PluginError
    from entrylint.report import text

    ap = _Parser(prog="entrylint rule" if one else "entrylint rules",
                                 description="Print a rule's documentation" if one else "List the rules")
    if one:
        ap.add_argument("name", metavar="ID|SLUG")
    ap.add_argument("--debug", action="store_true")
    args = ap.parse_args(argv)
    try:
        rs = api.rules()
        if not one:
            sys.stdout.write(text.render_rules(rs.info.values()))
            return 0
        info = rs.lookup(args.name)
        if info is None:
            raise _Usage(f"unknown rule {args.name!r} (see entrylint rules)")
        sys.stdout.write(text.render_rule(info))
        return 0
    except (_Usage, PluginError) as e:
        return _fail(str(e), args.debug)
    except Exception as e:  # noqa: BLE001
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def _fail(msg: str, debug: bool) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"entrylint: {one_line(msg)}\n")
    return 2


def one_line(msg: str) -> str:
    """``msg`` as one line a terminal shows as it is: a control character
    (a CR or newline from a damaged patch's file name, a NUL) or a byte that
    is not UTF-8 is written as its escape."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode("ascii")
                   for c in msg)


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # a process of its own (the console script), not a caller's process
        global _OWN_PROCESS
        _OWN_PROCESS = True
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "expand":
        return cmd_expand(argv[1:])
    if argv and argv[0] == "explain":
        return cmd_explain(argv[1:])
    if argv and argv[0] == "lsp":
        from entrylint.faces.lsp import main as lsp_main

        return lsp_main(argv[1:])
    if argv and argv[0] in ("rule", "rules"):
        return cmd_rules(argv[1:], argv[0] == "rule")
    if argv and argv[0] == "check":
        argv = argv[1:]
    code = cmd_check(argv)
    if _OWN_PROCESS:
        _exit_now(code)
    return code


def _exit_now(code: int) -> None:
    """End a check that runs as its own process without tearing its heap down
    object by object: a file at the limits leaves hundreds of MB (its last
    profile, the parse memos) that the interpreter's exit would collect and
    free, 0.6 s of a 12 s run.  What exit does that matters is done here: the
    exit hooks (the decoder's table is saved by one), then the output.  The
    hooks are run by CPython's ``atexit._run_exitfuncs``; an interpreter
    without it gets the ordinary exit (this returns)."""
    import atexit

    run_hooks = getattr(atexit, "_run_exitfuncs", None)
    if run_hooks is None:
        return
    run_hooks()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except OSError:  # the reader went away (`| head`): nothing more can be said
        pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
