"""source/dists.py: the rule plugins' entry points and a dependency's
version, found as importlib.metadata finds them, without importing it."""

from __future__ import annotations

import importlib.metadata as md
import subprocess
import sys

import pytest

from entrylint.source import dists


@pytest.mark.parametrize("group", ["entrylint.rules", "console_scripts", "pytest11", "no.such.group"])
def test_the_installed_entry_points_are_importlibs(group):
    want = sorted((ep.name, ep.value, ep.dist.name) for ep in md.entry_points(group=group))
    assert sorted(dists.entry_points(group)) == want
    if group == "entrylint.rules":
        assert len(want) >= 15


def _dist(folder, name, version, text, meta_name=None):
    d = folder / f"{name}-{version}.dist-info"
    d.mkdir(parents=True)
    (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {meta_name or name}\nVersion: {version}\n\nbody\n")
    if text is not None:
        (d / "entry_points.txt").write_text(text)


def test_the_first_distribution_of_a_name_on_the_path_is_read(tmp_path, monkeypatch):
    """Two folders of sys.path hold one distribution (case and -_. alike):
    the first is read; comments and other sections are skipped; a
    distribution without entry points and an egg-info file are passed."""
    first, second = tmp_path / "a", tmp_path / "b"
    _dist(first, "My_Rules", "1.0", "# made by hand\n[entrylint.rules]\nmine = my_rules:Plugin [extra]\n\n"
          "[console_scripts]\nx = y:z\n", meta_name="my-rules")
    _dist(second, "my.rules", "2.0", "[entrylint.rules]\nold = old_rules\n")
    _dist(second, "other", "0.3", "[entrylint.rules]\n  spaced   =   pkg.mod:obj.attr  \n")
    _dist(second, "plain", "1", None)
    (second / "legacy.egg-info").write_text("Metadata-Version: 1.0\nName: legacy\n")
    monkeypatch.setattr(sys, "path", [str(first), str(tmp_path / "missing"), str(second)])
    got = sorted(dists.entry_points("entrylint.rules"))
    assert got == [("mine", "my_rules:Plugin [extra]", "my-rules"), ("spaced", "pkg.mod:obj.attr", "other")]
    assert sorted(dists.entry_points("entrylint.rules")) == sorted(
        (ep.name, ep.value, ep.dist.name) for ep in md.entry_points(group="entrylint.rules"))
    assert dists.version("my-rules") == "1.0" and dists.version("OTHER") == "0.3" and dists.version("nope") is None


def test_an_entry_points_value_names_a_module_or_an_attribute():
    assert dists.load("os.path") is sys.modules["os.path"]
    assert dists.load("os:path.join [extra]") is sys.modules["os.path"].join


def test_a_check_does_not_import_importlib_metadata():
    """It imports the email package: 22 ms of every process's start."""
    code = ("import sys; from entrylint.faces import cli; from entrylint import api; api.rules();"
            "from entrylint.program.decode_iced import iced_version; iced_version();"
            "print('importlib.metadata' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
    assert dists.version("iced-x86") == md.version("iced-x86")
