"""atomic_write: the file appears whole or not at all."""

import os

import numpy as np
import pytest

from sknegsample.utils._io import atomic_write


def test_np_save_through_the_file_object(tmp_path):
    out = tmp_path / "a.npy"
    with atomic_write(out) as fh:
        assert fh.name != str(out) and not out.exists()
        np.save(fh, np.arange(3))
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
    with pytest.raises(RuntimeError, match="boom"), atomic_write(out) as fh:
        fh.write(b"partial")
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
    for mode in ("a", None):
        with pytest.raises(ValueError, match="mode must be"), \
                atomic_write(tmp_path / "x", mode=mode):
            pass


def test_a_file_shorter_than_written_is_refused(tmp_path):
    """A writer whose bytes were lost without an error (numpy's tofile drops
    the error of its final flush) must not replace the old file."""
    out = tmp_path / "short.npy"
    out.write_bytes(b"old")
    with pytest.raises(OSError, match="100 bytes were written but the file holds 60"), \
            atomic_write(out) as fh:
        fh.write(b"x" * 60)
        fh.flush()
        fh.seek(100)  # what numpy does after a FILE* whose last 40 bytes were dropped
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["short.npy"]


def test_a_failing_flush_at_close_keeps_the_old_file(tmp_path, monkeypatch):
    out = tmp_path / "f.bin"
    out.write_bytes(b"old")

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"), atomic_write(out) as fh:
        fh.write(b"new")
    assert out.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
