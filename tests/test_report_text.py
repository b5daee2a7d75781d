"""Text modes (checkpatch's options), colour, the excerpt, gcc and GitHub
workflow commands, and how b4 reads --terse."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from entrylint.faces import cli
from entrylint.report import excerpt, github

REPO = Path(__file__).resolve().parents[1]
SWAPGS = ["--select", "EL301,EL402", "fixtures/rules/swapgs_cr3_order_fires.S"]
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(argv, monkeypatch, capsys, env=None) -> tuple[int, str]:
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("NO_COLOR", raising=False)
    for k, v in (env or {}).items():
        monkeypatch.setenv(k, v)
    code = cli.main(argv)
    return code, capsys.readouterr().out


def b4_classify(output: str) -> dict:
    """b4 (prep --check, am --check) runs the per-patch check command and
    reads its output line by line: a line with ERROR: is a failure, any
    other line a warning, no output at all a pass."""
    counts = {"fail": 0, "warning": 0}
    for line in output.splitlines():
        if not line.strip():
            continue
        counts["fail" if "ERROR:" in line else "warning"] += 1
    return counts


def test_terse_as_b4_reads_it(monkeypatch, capsys):
    code, out = run(["--terse", "--no-summary", *SWAPGS], monkeypatch, capsys)
    assert code == 1
    assert b4_classify(out) == {"fail": 2, "warning": 2}
    for line in out.splitlines():
        assert re.fullmatch(r"fixtures/rules/swapgs_cr3_order_fires\.S:\d+: (ERROR|WARNING|CHECK):EL\d{3}:[a-z0-9-]+: .+",
                            line), line


def test_terse_clean_prints_nothing(monkeypatch, capsys):
    code, out = run(["--terse", "--no-summary", "--select", "EL301", "fixtures/rules/swapgs_cr3_order_quiet.S"],
                    monkeypatch, capsys)
    assert code == 0 and out == "" and b4_classify(out) == {"fail": 0, "warning": 0}


def test_summary_would_count_as_a_b4_warning(monkeypatch, capsys):
    # why the b4 set-up passes --no-summary, as b4's own checkpatch command does
    _, out = run(["--terse", *SWAPGS], monkeypatch, capsys)
    assert out.splitlines()[-1].startswith("total: 2 errors, 2 warnings")


def test_no_color_when_not_a_terminal(monkeypatch, capsys):
    _, out = run(SWAPGS, monkeypatch, capsys)  # capsys is not a TTY
    assert "\x1b[" not in out


def test_color_always_highlights_and_keeps_the_text(monkeypatch, capsys):
    _, plain = run(["--color=never", *SWAPGS], monkeypatch, capsys)
    _, colored = run(["--color=always", *SWAPGS], monkeypatch, capsys)
    assert "\x1b[1;31mERROR\x1b[0m:EL301:swapgs-cr3-order:" in colored
    stripped = ANSI.sub("", colored)
    assert "+13 | \tmovq\t%rsp, %cr3" in stripped  # our gutter, the reported line marked with +
    assert "12 | \tandq" in stripped
    # the rest is the plain output
    keep = [x for x in plain.splitlines() if not x.startswith("+")]
    assert all(x in stripped.splitlines() for x in keep)


def test_color_auto_respects_no_color_and_tty(monkeypatch):
    class Tty(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    assert cli._use_color("auto", Tty()) is True
    assert cli._use_color("auto", io.StringIO()) is False
    monkeypatch.setenv("NO_COLOR", "1")
    assert cli._use_color("auto", Tty()) is False
    assert cli._use_color("always", io.StringIO()) is True
    assert cli._use_color("never", Tty()) is False


def test_excerpt_filters_error_tokens():
    lines = ["\tSWITCH_TO_KERNEL_CR3 scratch_reg=%rdi", ".Ldone_\\@:", "1:\tret",
             "\tmovq PER_CPU_VAR(cpu_tss_rw + TSS_sp2), %rsp", '\tALTERNATIVE "", "jmp 1f", X86_FEATURE_PTI']
    out = excerpt.highlight_lines(lines)
    assert len(out) == len(lines)
    assert all("91m" not in x and "04m" not in x for x in out)  # no underlined bright red
    assert [ANSI.sub("", x) for x in out] == lines


def test_excerpt_multiline_comment_keeps_lines():
    lines = ["/* a", " * b", " */", "\tswapgs"]
    assert [ANSI.sub("", x) for x in excerpt.highlight_lines(lines)] == lines
    assert excerpt.excerpt(lines, 9) == []
    assert excerpt.excerpt(lines, 1, color=False) == ["+1 | /* a", " 2 |  * b"]


def test_github_escaping():
    assert github.escape_data("100% a\r\nb:c,d") == "100%25 a%0D%0Ab:c,d"
    assert github.escape_property("a:b,c%d\ne") == "a%3Ab%2Cc%25d%0Ae"


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "gcc", "github"])
def test_exit_codes(fmt, monkeypatch, capsys):
    assert run(["--format", fmt, *SWAPGS], monkeypatch, capsys)[0] == 1
    assert run(["--format", fmt, "--fail-on", "error", "--select", "EL402",
                "fixtures/rules/swapgs_cr3_order_fires.S"], monkeypatch, capsys)[0] == 0
    assert run(["--format", fmt, "no/such/file.S"], monkeypatch, capsys)[0] == 2


def test_bad_color_value_is_a_usage_error(monkeypatch, capsys):
    with pytest.raises(SystemExit) as e:
        run(["--color=sometimes", *SWAPGS], monkeypatch, capsys)
    assert e.value.code == 2


def test_expand_names_each_file_once_not_once_per_statement(tmp_path, monkeypatch):
    # `entrylint expand` of a large expansion named its file for every
    # statement, resolving the path each time (52 s on the fuzzer's
    # macro:14401); the reporters name a file once per run
    from entrylint import api
    from entrylint.report import expand as expand_report
    from entrylint.report import paths

    src = tmp_path / "many.S"
    src.write_text(".rept 3000\n nop\n.endr\n")
    exp = api.expand(src, api.Options(root=tmp_path))
    assert len(exp.program.instructions) == 3000
    paths._display.cache_clear()
    calls = []
    real = Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, *a, **k: calls.append(1) or real(self, *a, **k))
    text = expand_report.to_text(exp) + expand_report.to_json(exp)
    assert text.count("many.S") >= 3000
    assert len(calls) <= 10
