"""Bad input (issue 9): binary files, bytes that are not UTF-8, CRLF, NUL
bytes, empty files, folders and missing files give a clear message or a
normal run, never a traceback; usage and internal errors exit 2 with one
line on stderr (``--debug`` adds the traceback)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from treehash import unchanged

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("text", "json", "sarif", "gcc", "github")

INPUTS = {
    # name: (bytes, what the run must say)
    "binary": (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary"),
    "nul-in-text": (b"foo:\n\tnop\x00\n\tswapgs\n", "binary"),
    "latin1": (b"foo:\n\tmov %rax, %rbx # caf\xe9 \xff\xfe\n\tswapgs\n\tsysretq\n", None),
    "latin1-in-code": (b"foo:\n\tmov %rax,\xe9 %rbx\n", None),
    "crlf": (b".globl foo\r\nfoo:\r\n\tswapgs\r\n\tsysretq\r\n", None),
    "cr-only": (b"foo:\r\tswapgs\r\tsysretq\r", None),
    "empty": (b"", None),
    "bom": (b"\xef\xbb\xbf\tnop\n", None),
    "no-final-newline": (b"\tnop", None),
    "only-backslash": (b"\\", None),
    "surrogate-utf8": (b"\xed\xa0\x80\tnop\n", None),
    # numbers Python will not read (4300 digits or more): in `#if`, `=`, `.set`, `.byte` and
    # an alternative's feature word they raised out of the C expression reader and the program build
    "long-numbers": ((f"#if {'1' * 5000}\n#endif\nx = {'1' * 5000}\n.set y, {'9' * 5000}\n"
                      f".byte {'2' * 5000}\n\tmovq ${'3' * 5000}, %rax\n"
                      f".pushsection .altinstructions,\"a\"\n.long 1f - .\n.long 2f - .\n.word {'4' * 5000}\n"
                      f".byte 1\n.byte 1\n.popsection\n1: nop\n2: nop\n").encode(), None),
}


def cli(*argv, cwd=None, stdin=None):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "LC_ALL": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "entrylint", *argv], capture_output=True, cwd=cwd, env=env,
                          timeout=120, input=stdin)


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    d = tmp_path_factory.mktemp("bad")
    for name, (data, _) in INPUTS.items():
        (d / f"{name}.S").write_bytes(data)
    return d


def test_every_bad_file_in_every_format(tree):
    """One run per format over the whole folder: no traceback, exit 0 or 1, the
    output parses, and the binary files are named as such."""
    with unchanged(tree, mtimes=True):
        for fmt in FORMATS:
            p = cli("--no-assemble", "--profile", "max", "--format", fmt, str(tree))
            assert p.returncode in (0, 1), (fmt, p.stderr[-2000:])
            assert b"Traceback" not in p.stderr and not p.stderr, (fmt, p.stderr[-2000:])
            if fmt in ("json", "sarif"):
                json.loads(p.stdout.decode("utf-8", "surrogateescape"))
    out = cli("--no-assemble", "--profile", "max", "--format", "json", str(tree)).stdout
    found = json.loads(out)["findings"]
    binary = {f["file"] for f in found if f["id"] == "EL907" and "binary" in f["message"]}
    assert {Path(f).name for f in binary} == {"binary.S", "nul-in-text.S"}


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_expand_and_explain_each(tree, name):
    for sub in ("expand", "explain"):
        p = cli(sub, "--no-assemble", str(tree / f"{name}.S"))
        assert p.returncode == 0 and not p.stderr, (sub, p.stderr[-2000:])


def test_crlf_reads_as_lf(tree):
    from entrylint import api

    a = api.expand(tree / "crlf.S", api.Options(assemble=False))
    assert [s.name for s in a.gas.statements if s.kind == "insn"] == ["swapgs", "sysretq"]
    assert not [p for p in a.problems if p.kind.value != "generated-header"]


def test_stdin_with_odd_bytes():
    p = cli("--no-assemble", "--profile", "max", "-", stdin=b"foo:\r\n\tswapgs\x00\xff\n")
    assert p.returncode in (0, 1) and not p.stderr


@pytest.mark.parametrize("argv", [
    ["--format", "bogus", "x.S"], ["-j", "x", "x.S"], ["--limit", "nope=1", "x.S"], ["missing.S"],
    ["--root", "/nonexistent-root", "x.S"], ["--config", "/nonexistent.config", "x.S"],
    ["expand"], ["expand", "missing.S"], ["explain"], ["explain", "missing.S:3"], ["rule"], ["rule", "EL000"],
    ["--limit", "macro-depth=²", "x.S"], ["--limit", f"macro-depth={'1' * 5000}", "x.S"], ["explain", "x.S:²"],
])
def test_usage_errors_are_one_line(tmp_path, argv):
    (tmp_path / "x.S").write_text("\tnop\n")
    p = cli(*argv, cwd=tmp_path)
    err = p.stderr.decode()
    assert p.returncode == 2 and len(err.strip().splitlines()) == 1 and err.startswith("entrylint"), err
    assert not p.stdout


def test_internal_error_is_one_line_and_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    from entrylint import api
    from entrylint.faces import cli as face

    (tmp_path / "x.S").write_text("\tnop\n")

    def boom(*a, **k):
        raise RuntimeError("injected")

    for argv, target in ((["--no-assemble", str(tmp_path / "x.S")], "check"),
                         (["expand", "--no-assemble", str(tmp_path / "x.S")], "expand"),
                         (["explain", "--no-assemble", str(tmp_path / "x.S")], "analyze"),
                         (["rules"], "rules")):
        monkeypatch.setattr(api, target, boom)
        assert face.main(argv) == 2
        err = capsys.readouterr().err
        assert err == "entrylint: internal error: RuntimeError: injected\n", err
        assert face.main([*argv, "--debug"]) == 2
        err = capsys.readouterr().err
        assert "Traceback" in err and err.rstrip().endswith("entrylint: internal error: RuntimeError: injected")
        monkeypatch.undo()


def test_fingerprints_of_bytes_that_are_not_utf8():
    """Found by tools/fuzz.py: input soup:17611 (seed 1) gives a finding whose
    fingerprint key holds a byte that is not UTF-8 (kept as a surrogate): it
    failed to encode."""
    sys.path.insert(0, str(REPO / "tools"))
    import fuzz_inputs
    from entrylint import api
    from entrylint.report import sarif

    text, _ = fuzz_inputs.generate(1, "soup", 17611)
    res = api.check_one(Path("/nonexistent/fuzz/f.S"), api.Options(profile="max", assemble=False), text=text)
    assert res.findings and all(len(f.fingerprint) == 16 for f in res.findings)
    json.loads(sarif.render([(None, f) for f in res.findings]))


def test_a_line_number_of_many_digits_is_a_line_past_the_end(tmp_path):
    """``explain FILE:LINE`` with a number Python will not read (4300 digits
    or more) raised an internal error; it is a line no instruction comes from."""
    (tmp_path / "x.S").write_text("\tnop\n")
    p = cli("explain", "--no-assemble", f"x.S:{'1' * 5000}", cwd=tmp_path)
    assert p.returncode == 0 and not p.stderr and b"no instruction comes from line" in p.stdout.lower()
