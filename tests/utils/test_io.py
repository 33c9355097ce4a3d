"""atomic_write: the file appears whole or not at all."""

import os

import numpy as np
import pytest

from sknegsample.utils._io import atomic_write


def test_yields_a_path_for_writers_that_open_it(tmp_path):
    out = tmp_path / "a.npy"
    with atomic_write(out) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".npy" and tmp != out
        np.save(tmp, np.arange(3))
        assert not out.exists()
    np.testing.assert_array_equal(np.load(out), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npy"]


@pytest.mark.parametrize("mode, payload", [("w", "é\n"), ("wb", b"\x00\x01")])
def test_file_modes(tmp_path, mode, payload):
    out = tmp_path / "f"
    with atomic_write(out, mode=mode) as fh:
        fh.write(payload)
    read = out.read_text(encoding="utf-8") if mode == "w" else out.read_bytes()
    assert read == payload


def test_failure_keeps_old_file_and_removes_temporary(tmp_path):
    out = tmp_path / "keep.txt"
    out.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), atomic_write(out) as tmp:
        tmp.write_text("partial")
        raise RuntimeError("boom")
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_replaces_existing_file_with_plain_permissions(tmp_path):
    out = tmp_path / "p.txt"
    out.write_text("old")
    with atomic_write(out, mode="w") as fh:
        fh.write("new")
    assert out.read_text() == "new"
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"), \
            atomic_write(tmp_path / "missing" / "x"):
        pass
    with pytest.raises(ValueError, match="mode must be"), atomic_write(tmp_path / "x", mode="a"):
        pass
