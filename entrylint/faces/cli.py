"""The command line.

    entrylint [OPTIONS] [PATH...]          check files or a kernel tree
    entrylint expand [OPTIONS] FILE        the expanded program with traces
    entrylint explain [OPTIONS] FILE[:LINE] the states, live registers and flags at a line

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 usage or internal
error (one line on stderr; a traceback only with --debug).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from entrylint import __version__

SUBCOMMANDS = ("expand", "check")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2}


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
                   help="built-in configuration profile (default: defconfig)")
    g.add_argument("-D", dest="defines", action="append", type=_define, default=[], metavar="NAME[=VAL]")
    g.add_argument("-U", dest="undefines", action="append", default=[], metavar="NAME")
    g.add_argument("-I", dest="include", action="append", type=Path, default=[], metavar="DIR")
    g.add_argument("--no-assemble", action="store_true",
                   help="do not run GNU as / the decoder (no register and flag effects)")
    ap.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    ap.add_argument("--version", action="version", version=f"entrylint {__version__}")


def _options(args):
    from entrylint.api import Options

    if args.config is not None and not args.config.is_file():
        raise _Usage(f"--config {args.config}: no such file")
    if args.root is not None and not args.root.is_dir():
        raise _Usage(f"--root {args.root}: no such folder")
    if args.build is not None and not args.build.is_dir():
        raise _Usage(f"--build {args.build}: no such folder")
    return Options(root=args.root, build=args.build, include=tuple(args.include),
                   defines=dict(args.defines), undefines=tuple(args.undefines), config=args.config,
                   profile=args.profile, assemble=not args.no_assemble)


class _Usage(Exception):
    pass


def _parser_expand() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="entrylint expand",
                                 description="Show the expanded program of a .S file: every instruction "
                                             "with the line it came from and its macro expansion trace.")
    ap.add_argument("file", type=Path)
    ap.add_argument("--format", choices=("text", "json"), default="text")
    _common(ap)
    return ap


def _parser_check() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="entrylint",
                                 description="Check x86-64 kernel entry assembly. With no PATH, the bundled "
                                             "fixtures are checked.",
                                 epilog="Subcommands: entrylint expand FILE (see entrylint expand --help).")
    ap.add_argument("paths", nargs="*", type=Path, metavar="PATH")
    ap.add_argument("--fail-on", choices=("error", "warning", "info"), default="warning")
    ap.add_argument("--format", choices=("text", "json"), default="text")
    _common(ap)
    return ap


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
        return _fail(str(e), args.debug, usage=True)
    except Exception as e:  # noqa: BLE001 - the CLI promises one line, not a traceback
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def _parser_explain() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="entrylint explain",
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
        if sep and tail.isdigit():
            file, line = head, int(tail)
        path = Path(file)
        if not path.is_file():
            raise _Usage(f"{file}: no such file")
        an = api.analyze(path, opts)
        sys.stdout.write(rep.to_json(an, line) if args.format == "json" else rep.to_text(an, line))
        return 0
    except (_Usage, api.UsageError) as e:
        return _fail(str(e), args.debug, usage=True)
    except Exception as e:  # noqa: BLE001
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def cmd_check(argv: list[str]) -> int:
    import json

    from entrylint import api
    from entrylint.report.paths import display_path

    args = _parser_check().parse_args(argv)
    try:
        opts = _options(args)
        paths = args.paths or [bundled_fixtures()]
        for p in paths:
            if not p.exists():
                raise _Usage(f"{p}: no such file or folder")
        files = api.source_files(paths)
        findings, nlines = [], 0
        for f in files:
            exp = api.expand(f, opts)
            nlines += sum(1 for _ in _source_lines(f))
            findings += [(exp.root, x) for x in exp.findings]
        worst = max((SEVERITY_RANK[x.severity.value] for _, x in findings), default=-1)
        if args.format == "json":
            out = {"version": 1,
                   "findings": [{"id": x.id, "slug": x.slug, "severity": x.severity.value,
                                 "file": display_path(x.location.file, r) if x.location else None,
                                 "line": x.location.line if x.location else None,
                                 "column": x.location.col if x.location else None,
                                 "message": x.message,
                                 "trace": [{"file": display_path(t.location.file, r), "line": t.location.line,
                                            "macro": t.macro} for t in x.trace],
                                 "path": [], "profiles": list(x.profiles), "fingerprint": x.fingerprint}
                                for r, x in findings],
                   "summary": {"files": len(files), "lines": nlines,
                               "errors": sum(x.severity.value == "error" for _, x in findings),
                               "warnings": sum(x.severity.value == "warning" for _, x in findings),
                               "infos": sum(x.severity.value == "info" for _, x in findings)}}
            sys.stdout.write(json.dumps(out, indent=1) + "\n")
        else:
            label = {"error": "ERROR", "warning": "WARNING", "info": "CHECK"}
            for r, x in findings:
                loc = x.location
                where = f"{display_path(loc.file, r)}:{loc.line}:" if loc else ""
                sys.stdout.write(f"{label[x.severity.value]}:{x.id}:{x.slug}: {x.message}\n")
                if loc:
                    sys.stdout.write(f"#{loc.line}: FILE: {where}\n")
                for t in x.trace[1:]:
                    sys.stdout.write(f"    via {t.macro + ' at ' if t.macro else ''}"
                                     f"{display_path(t.location.file, r)}:{t.location.line}\n")
                sys.stdout.write("\n")
            e = sum(x.severity.value == "error" for _, x in findings)
            w = sum(x.severity.value == "warning" for _, x in findings)
            c = sum(x.severity.value == "info" for _, x in findings)
            sys.stdout.write(f"total: {e} errors, {w} warnings, {c} checks, {nlines} lines checked "
                             f"({len(files)} files)\n")
        return 1 if worst >= SEVERITY_RANK[args.fail_on] else 0
    except (_Usage, api.UsageError) as e:
        return _fail(str(e), args.debug, usage=True)
    except Exception as e:  # noqa: BLE001
        return _fail(f"internal error: {type(e).__name__}: {e}", args.debug)


def _source_lines(path: Path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            yield from fh
    except OSError:
        return


def _fail(msg: str, debug: bool, usage: bool = False) -> int:
    if debug:
        import traceback

        traceback.print_exc()
    sys.stderr.write(f"entrylint: {msg}\n")
    return 2


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "expand":
        return cmd_expand(argv[1:])
    if argv and argv[0] == "explain":
        return cmd_explain(argv[1:])
    if argv and argv[0] == "check":
        argv = argv[1:]
    return cmd_check(argv)


if __name__ == "__main__":
    sys.exit(main())
