"""Atomic writes of kbalance.outputs."""

from __future__ import annotations

import pytest

from kbalance.outputs import replace_file


def test_replace_file_writes_and_replaces_whole(tmp_path):
    path = tmp_path / "sub" / "table.csv"
    assert replace_file(path, lambda tmp: tmp.write_text("a\n1\n")) == path
    assert path.read_text() == "a\n1\n"
    replace_file(path, lambda tmp: tmp.write_text("a\n2\n"))
    assert path.read_text() == "a\n2\n"
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "table.csv"
    path.write_text("old\n")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        replace_file(path, fail)
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["table.csv"]
