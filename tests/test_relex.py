"""cpp/lexer.py ``relex``: a file lexed again after an edit inside its
lines takes the other lines from the last lexing.  What it gives must be
what ``lex_file`` gives the new text -- every token (kind, text, white
space, place), the lines, the problems, the line starts -- and it must
decline (None) where it cannot know: a splice, a comment left open, lines
added or removed."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from entrylint.cpp.lexer import lex_file, lex_file_once, relex

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PIECES = ["x", " ", "\t", "%rax", "/*", "*/", "\\", "\\\n", "\n", "'", '"', "#", "//", "/* c */", "a, b", "(", "##"]

# (a text of our own with what crosses lines: splices, block comments over
# lines, quotes that run to the end of a line, a comment closed on a later line)
MIXED = """\
#define SAVE(x) \\
\tpushq x ; \\
\tpushq x
/* a comment
   over lines */ movq %rax, %rbx
\tmovq\t$1, %rcx\t/* it's */
# it's an asm comment with a quote
\t.ascii "a /* not a comment"
\tpopq %rbx /* open
   and closed */
\tret
"""


def _same(a, b) -> bool:
    def toks(lx):
        return [[(t.kind, t.text, t.ws, t.loc, t.noexp, t.pl, t.chain, t.src) for t in ln] for ln in lx.lines]
    return toks(a) == toks(b) and a.problems == b.problems and a.starts == b.starts


def _texts():
    yield "mixed.S", MIXED
    for f in sorted(FIXTURES.rglob("*.S"))[:60]:
        yield str(f), f.read_text(encoding="utf-8", errors="surrogateescape")


def _edit(rnd: random.Random, text: str) -> str:
    p = rnd.randrange(len(text) + 1)
    how = rnd.random()
    if how < 0.4:
        return text[:p] + rnd.choice(PIECES) + text[p:]
    if how < 0.8:
        return text[:p] + text[p + rnd.randint(1, 3):]
    return text[:p] + rnd.choice(PIECES) + text[p + rnd.randint(1, 4):]


def test_relex_gives_what_lexing_the_new_text_gives():
    rnd = random.Random(5)
    tried = taken = 0
    for name, text in _texts():
        old = lex_file(text, name)
        for _ in range(40):
            new = _edit(rnd, text)
            tried += 1
            got = relex(text, old, new, name)
            if got is not None:
                taken += 1
                assert _same(got, lex_file(new, name)), (name, new)
    assert taken > tried // 2  # (most edits stay inside their lines)


def test_relex_of_a_relexed_file_keeps_its_line_starts():
    """Keystrokes one after another: each lexing made from the one before."""
    rnd = random.Random(9)
    for name, text in _texts():
        cur = lex_file(text, name)
        for _ in range(15):
            new = _edit(rnd, text)
            got = relex(text, cur, new, name)
            cur = got if got is not None else lex_file(new, name)
            assert _same(cur, lex_file(new, name)), (name, new)
            text = new


@pytest.mark.parametrize("old,new", [
    ("\tret\n", "\tret /* open\n"),  # a comment left open: the lines after it change
    ("\tmovq\t$1, %rcx", "\tmovq\t$1, %rcx \\\n"),  # a splice: the line joins the next
    ("\tret\n", "\tret\n\tnop\n"),  # a line added: every later line moves
    ("it's */\n", "it's\n"),  # a comment's end removed: it runs on into the lines after
])
def test_relex_declines_what_changes_other_lines(old, new):
    assert MIXED.count(old) == 1
    edited = MIXED.replace(old, new)
    assert relex(MIXED, lex_file(MIXED, "m.S"), edited, "m.S") is None


def test_a_comment_closed_early_is_lexed_with_its_lines():
    """The lines from the edited line's start to where the last lexing's
    next line started are lexed again: the comment's old rest is code now."""
    edited = MIXED.replace("\tpopq %rbx /* open", "\tpopq %rbx /* open */")
    got = relex(MIXED, lex_file(MIXED, "m.S"), edited, "m.S")
    assert got is not None and _same(got, lex_file(edited, "m.S"))
    assert [t.text for t in got.lines[-2]] == ["and", "closed", "*", "/"]


def test_an_edit_inside_a_line_keeps_the_other_lines_tokens():
    """What the language server's keystrokes take: the other lines are the
    same objects (incremental.py compares them by identity first)."""
    name = "/tmp/entrylint-relex-test.S"
    first = lex_file_once(MIXED, name, keep=False)
    edited = MIXED.replace("movq\t$1, %rcx", "movq\t$2, %rcx")
    second = lex_file_once(edited, name, keep=False)
    assert _same(second, lex_file(edited, name))
    changed = [k for k, (a, b) in enumerate(zip(first.lines, second.lines)) if a is not b]
    assert len(changed) == 1 and second.lines[changed[0]][1].text == "$"
