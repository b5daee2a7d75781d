"""One reader (source/reader.py: read_source): the file checked and every
header it includes are read by one function, which applies the file-size
limit, refuses binary files (EL907), serves a patch applied in memory and
notes each read for the result cache."""

from __future__ import annotations

from entrylint import api
from entrylint.source import overlay, reader
from entrylint.source.limits import DEFAULT


def _tree(tmp_path, header: bytes):
    (tmp_path / "entry.S").write_text('#include "defs.h"\n\t.text\n\tnop\n')
    (tmp_path / "defs.h").write_bytes(header)
    return tmp_path / "entry.S"


def _el907(res):
    return [f for f in res.findings if f.id == "EL907"]


def test_a_binary_header_is_refused_as_the_file_checked_is(tmp_path):
    path = _tree(tmp_path, b"#define X 1\n\0\x01\x02garbage\n")
    (f,) = _el907(api.check(path, api.Options(profile="defconfig")))
    assert f.location.file.endswith("defs.h") and f.location.line == 2 and "binary" in f.message
    assert not [f for f in api.check(path, api.Options(profile="defconfig")).findings if f.id == "EL902"]


def test_the_limit_and_the_overlay_hold_for_headers_and_the_file_alike(tmp_path):
    path = _tree(tmp_path, b"#define X 1\n")
    small = api.Options(profile="defconfig", limits=DEFAULT.with_(file_size=64))
    big = "#define Y 2\n" + "/* padding */\n" * 10
    with overlay.using(overlay.Overlay(tmp_path, {"defs.h": big})):
        (f,) = [f for f in api.check(path, small).findings if f.id == "EL906"]
        assert f.location.file.endswith("defs.h")  # the overlay's text, not the disk's, ran over
        with overlay.using(overlay.Overlay(tmp_path, {"entry.S": "\t.text\n" + "\tnop\n" * 40})):
            (f,) = [f for f in api.check(path, small).findings if f.id == "EL906"]
            assert f.location.file.endswith("entry.S")


def test_every_read_is_noted_for_the_result_cache(tmp_path):
    path = _tree(tmp_path, b"#define X 1\n")
    with reader.recording() as rec:
        api.check(path, api.Options(profile="defconfig"))
    assert {p for p in rec if not p.startswith("?")} >= {str(path), str(tmp_path / "defs.h")}
    assert rec[str(path)] == reader.current_digest(str(path))


def test_read_source_says_why_it_did_not_read(tmp_path):
    (tmp_path / "big.S").write_text("x" * 100)
    text, problem = reader.read_source(tmp_path / "big.S", DEFAULT.with_(file_size=10))
    assert text == "" and problem.kind.name == "LIMIT" and "file-size" in problem.message
    text, problem = reader.read_source(tmp_path / "missing.S")
    assert text == "" and problem.kind.name == "UNREADABLE" and "cannot read" in problem.message
    text, problem = reader.read_source(tmp_path / "big.S")
    assert text == "x" * 100 and problem is None
