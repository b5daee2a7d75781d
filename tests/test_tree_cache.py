"""Tree caches are keyed by what the tree reads (source/overlay.py:
tree_cache, generation()): a patch applied in memory is another generation,
so no per-process cache of the tree can serve a state it was not filled in,
and no hand-kept list has to clear them."""

from __future__ import annotations

import ast
from pathlib import Path

from entrylint.source import overlay

PKG = Path(__file__).resolve().parents[1] / "entrylint"


def test_a_tree_cache_serves_each_state_of_the_tree_its_own_entry(tmp_path):
    (tmp_path / "Kconfig").write_text("config A\n")
    calls = []

    @overlay.tree_cache(maxsize=4)
    def names(root: str) -> str:
        calls.append(root)
        return overlay.read_text(Path(root, "Kconfig"))

    root = str(tmp_path)
    assert names(root) == "config A\n" and names(root) == "config A\n"
    assert len(calls) == 1  # a cache: the same state is read once
    patch1 = overlay.Overlay(tmp_path, {"Kconfig": "config A\nconfig B\n"})
    patch2 = overlay.Overlay(tmp_path, {"Kconfig": "config C\n"})
    with overlay.using(patch1):
        assert names(root) == "config A\nconfig B\n"
    with overlay.using(patch2):
        assert names(root) == "config C\n"
    assert len(calls) == 3
    # the same contents again (a series' "before" is the last patch's "after"),
    # in another Overlay object: its entry is found, nothing is read again
    with overlay.using(overlay.Overlay(tmp_path, {"Kconfig": "config A\nconfig B\n"})):
        assert names(root) == "config A\nconfig B\n"
    assert names(root) == "config A\n"
    assert len(calls) == 3
    names.cache_clear()
    assert names(root) == "config A\n" and len(calls) == 4


def test_generation_names_the_contents():
    a = overlay.Overlay("/tmp", {"x.h": "1"})
    b = overlay.Overlay("/tmp", {"x.h": "1"})
    assert overlay.generation() == ()
    with overlay.using(a):
        ga = overlay.generation()
    with overlay.using(b):
        assert overlay.generation() == ga
    b.set("x.h", "2")
    with overlay.using(b):
        assert overlay.generation() != ga
    b.set("x.h", None)  # deleted by a patch is a state of its own too
    with overlay.using(b):
        assert overlay.generation() not in ((), ga)


def test_no_module_keeps_a_plain_lru_cache():
    # a per-process cache of what the tree holds must be a tree_cache; the
    # only lru_caches left are the decorator's own and pure functions of
    # their text argument, which read no tree (each named here with why)
    allowed = {
        ("source/overlay.py", "cached"),
        ("faces/lsp/features.py", "rule_doc_uri"),  # rule id -> URL
        ("program/operands.py", "_parse_operands"),  # operand text -> parse
        ("program/constants.py", "eval_int"),  # expression text -> value
        ("report/paths.py", "_display"),  # (file, root, working folder) -> the name printed
        ("analysis/treefacts.py", "_assignment"),  # a name -> the pattern of its assignment
    }
    found = set()
    for py in PKG.rglob("*.py"):
        tree = ast.parse(py.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for dec in node.decorator_list:
                    text = ast.unparse(dec)
                    if "lru_cache" in text or text in ("cache", "functools.cache"):
                        found.add((py.relative_to(PKG).as_posix(), node.name))
    assert found == allowed
