"""Where the settings file is found (source/settings.py): from the start
folder up, the first folder with a file of entrylint's table, looked for
again at every call (the language server asks at each edit)."""

from __future__ import annotations

import os

from entrylint.source.settings import find_settings


def test_the_nearest_folder_with_entrylints_table_wins(tmp_path):
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_settings(deep).path is None
    (tmp_path / ".entrylint.toml").write_text('profile = "max"\n')
    got = find_settings(deep)  # (added after the first call: found at the next)
    assert got.path == tmp_path / ".entrylint.toml" and got.get("profile") == "max"
    # a pyproject.toml without [tool.entrylint] is passed over; one with it is taken
    (tmp_path / "a" / "pyproject.toml").write_text('[tool.black]\nline-length = 99\n')
    assert find_settings(deep).path == tmp_path / ".entrylint.toml"
    (deep / "pyproject.toml").write_text('[tool.entrylint]\nignore = ["EL303"]\n')
    assert find_settings(deep).get("ignore") == ["EL303"]
    (deep / "pyproject.toml").unlink()  # (removed: the one above again)
    assert find_settings(deep).get("profile") == "max"


def test_a_folder_by_the_name_is_no_settings_file_and_links_are_followed(tmp_path):
    real = tmp_path / "tree" / "arch"
    real.mkdir(parents=True)
    (tmp_path / "tree" / ".entrylint.toml").mkdir()  # a folder: not a settings file
    (tmp_path / ".entrylint.toml").write_text('select = ["EL2"]\n')
    link = tmp_path / "elsewhere"
    link.mkdir()
    os.symlink(real, link / "arch")
    # from the link: the folders above the real one, not the link's
    assert find_settings(link / "arch").get("select") == ["EL2"]
    (link / ".entrylint.toml").write_text('select = ["EL9"]\n')
    assert find_settings(link / "arch").get("select") == ["EL2"]
