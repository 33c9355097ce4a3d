"""Faults while writing output: the old file or a complete new one, never a partial one.

Each fault is injected into a real process: a file-size limit
(``RLIMIT_FSIZE``), a full disk (a tiny tmpfs, where mounting is allowed), a
read-only file system and SIGKILL in the middle of a write. After each, the
output path holds its previous bytes or the complete new file, no partial
file is left under its name, and the exit status is non-zero unless the
write completed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.cli import main
from sknegsample.datasets import make_pairs
from sknegsample.utils import save

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX faults")

ROOT = Path(__file__).resolve().parents[2]
N_PAIRS, N_NEGATIVES = 2000, 4
# mine's output: the .npy header and the int64 bank ids.
OUT_BYTES = 128 + 8 * N_PAIRS * N_NEGATIVES
OLD = np.zeros((3, 3))


def _mine_argv(workdir, out, *extra):
    return ["mine", str(workdir / "point.npy"), str(workdir / "counter.npy"), "-o", str(out),
            "-n", str(N_NEGATIVES), "--random-state", "0", "-q", *extra]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """Inputs, and the complete output that an undisturbed run writes."""
    path = tmp_path_factory.mktemp("faults")
    point, counter = make_pairs(N_PAIRS, 8, random_state=0)
    np.save(path / "point.npy", point)
    np.save(path / "counter.npy", counter)
    assert main(_mine_argv(path, path / "expected.npy")) == 0
    (path / "p.txt").write_text("".join(f"point {i}\n" for i in range(N_PAIRS)))
    (path / "c.txt").write_text("".join(f"counter {i}\n" for i in range(N_PAIRS)))
    assert (path / "expected.npy").stat().st_size == OUT_BYTES
    return path


def _old_output(directory, name="out.npy"):
    out = directory / name
    with open(out, "wb") as fh:
        np.save(fh, OLD)
    return out, out.read_bytes()


def _run(argv, *, fsize=None, ignore_xfsz=True, timeout=240):
    """Run the command line in a fresh interpreter, optionally under a file-size limit."""
    setup = ["import resource, signal, sys"]
    if fsize is not None:
        # Python ignores SIGXFSZ from startup: a write past the limit fails with
        # EFBIG. The signal's default action kills the process instead.
        action = "SIG_IGN" if ignore_xfsz else "SIG_DFL"
        setup.append(f"signal.signal(signal.SIGXFSZ, signal.{action})")
        setup.append(f"resource.setrlimit(resource.RLIMIT_FSIZE, ({fsize}, {fsize}))")
    setup += ["from sknegsample.cli import main", f"sys.exit(main({argv!r}))"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run([sys.executable, "-c", "\n".join(setup)], capture_output=True,
                          text=True, timeout=timeout, cwd=ROOT, env=env)


def _assert_old_or_complete(out, old, complete):
    data = out.read_bytes()
    assert data in (old, complete), (
        f"{out} holds {len(data)} bytes: neither the previous file ({len(old)}) nor the "
        f"complete new one ({len(complete)})")
    return data == complete


def _leftovers(directory, name="out.npy"):
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}."))


def _one_error_line(stderr, match):
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("sknegsample: error: "), stderr
    assert match in lines[0], lines[0]


# -- a file-size limit ---------------------------------------------------------

@pytest.mark.parametrize("limit", [
    OUT_BYTES - 64,  # inside the last buffer: numpy's lost flush, once exit 0
    OUT_BYTES // 2,
    100,  # inside the .npy header
], ids=["last-buffer", "half", "header"])
def test_file_size_limit(workdir, tmp_path, limit):
    out, old = _old_output(tmp_path)
    result = _run(_mine_argv(workdir, out), fsize=limit)
    assert result.returncode == 2, result.stderr
    _one_error_line(result.stderr, f"cannot write {str(out)!r}")
    assert out.read_bytes() == old
    assert not _leftovers(tmp_path)


def test_file_size_limit_with_sigxfsz_killing_the_process(workdir, tmp_path):
    out, old = _old_output(tmp_path)
    result = _run(_mine_argv(workdir, out), fsize=OUT_BYTES // 2, ignore_xfsz=False)
    assert result.returncode == -signal.SIGXFSZ, result.stderr
    assert out.read_bytes() == old
    # Killed outright, the process leaves its temporary file (documented), not
    # a partial file under the output's name.
    assert len(_leftovers(tmp_path)) <= 1


# -- a full disk ---------------------------------------------------------------

@contextlib.contextmanager
def _tmpfs(path, size, options=""):
    """Mount a tmpfs of ``size`` bytes at ``path``, or skip where mounting is refused."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}{options}", "tmpfs",
                              str(path)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(directory, leave):
    """Fill ``directory``'s file system until ``leave`` bytes are free."""
    stat = os.statvfs(directory)
    free = stat.f_bavail * stat.f_frsize
    if free > leave:
        with open(directory / "filler", "wb") as fh:
            fh.write(b"\0" * (free - leave))


@pytest.mark.parametrize("free", [16 * 1024, OUT_BYTES - 4096],
                         ids=["little-space", "one-page-short"])
def test_full_disk_mine(workdir, tmp_path, free):
    with _tmpfs(tmp_path / "disk", 4 * OUT_BYTES) as disk:
        out, old = _old_output(disk)
        _fill(disk, free)
        result = _run(_mine_argv(workdir, out))
        assert result.returncode == 2, result.stderr
        # "No space left on device", or numpy's short-write message.
        _one_error_line(result.stderr, f"cannot write {str(out)!r}")
        assert out.read_bytes() == old
        assert not _leftovers(disk)


def test_full_disk_triplets(workdir, tmp_path):
    with _tmpfs(tmp_path / "disk", 4 * OUT_BYTES) as disk:
        out, old = _old_output(disk)
        triplets = disk / "t.jsonl"
        triplets.write_text("old\n")
        _fill(disk, OUT_BYTES + 4 * 4096)  # room for the ids, not for the records
        result = _run(_mine_argv(workdir, out, "--point-text", str(workdir / "p.txt"),
                                 "--counter-text", str(workdir / "c.txt"), "--triplets",
                                 str(triplets)))
        assert result.returncode == 2, result.stderr
        _one_error_line(result.stderr, f"cannot write {str(triplets)!r}")
        assert triplets.read_text() == "old\n"
        assert not _leftovers(disk, "t.jsonl")


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_full_disk_save(tmp_path, fmt):
    point, counter = make_pairs(3000, 16, random_state=0)
    sampler = HybridNegativeSampler(random_state=0).fit(point, counter)
    with _tmpfs(tmp_path / "disk", 1024 * 1024) as disk:
        out = disk / f"model.{fmt}"
        out.write_bytes(b"old model")
        _fill(disk, 64 * 1024)
        with pytest.raises(OSError, match="No space left on device"):
            save(sampler, out, format=fmt, compress=0)
        assert out.read_bytes() == b"old model"
        assert not _leftovers(disk, out.name)


# -- a read-only file system ---------------------------------------------------

def test_read_only_file_system(workdir, tmp_path):
    with _tmpfs(tmp_path / "disk", 1024 * 1024) as disk:
        out, old = _old_output(disk)
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = _run(_mine_argv(workdir, out))
        assert result.returncode == 2, result.stderr
        _one_error_line(result.stderr, "cannot write to directory")
        # The API refuses too, when it comes to write.
        sampler = HybridNegativeSampler(random_state=0).fit(*make_pairs(20, 4, random_state=0))
        with pytest.raises(OSError, match=f"cannot write {str(out)!r}: Read-only file system"):
            save(sampler, out)
        assert out.read_bytes() == old


# -- SIGKILL in the middle of a write ------------------------------------------

_SLOW_WRITER = """
import sys, time
from sknegsample.utils._io import atomic_write
with atomic_write(sys.argv[1]) as fh:
    for i in range(1000):
        fh.write(b"new" * 100_000)
        fh.flush()
        if i == 2:
            print("writing", flush=True)
        time.sleep(0.01)
"""


def test_sigkill_mid_write_keeps_the_old_file(tmp_path):
    out, old = _old_output(tmp_path, "model.bin")
    proc = subprocess.Popen([sys.executable, "-c", _SLOW_WRITER, str(out)], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "writing"
        # Several hundred kilobytes are in the temporary file by now.
        assert max(p.stat().st_size for p in tmp_path.iterdir()) > 500_000
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        proc.kill()
        proc.stdout.close()
    assert out.read_bytes() == old
    assert len(_leftovers(tmp_path, "model.bin")) == 1


@pytest.mark.parametrize("delay", [1.0, 3.0, 6.0])
def test_sigkill_at_any_time_during_mine(workdir, tmp_path, delay):
    out, old = _old_output(tmp_path)
    complete = (workdir / "expected.npy").read_bytes()
    proc = subprocess.Popen([sys.executable, "-c", "import sys\nfrom sknegsample.cli import "
                             f"main\nsys.exit(main({_mine_argv(workdir, out)!r}))"], cwd=ROOT,
                            stderr=subprocess.PIPE)
    time.sleep(delay)
    proc.send_signal(signal.SIGKILL)
    status = proc.wait(timeout=240)
    proc.stderr.close()
    if _assert_old_or_complete(out, old, complete):
        assert status in (0, -signal.SIGKILL)
    else:
        assert status == -signal.SIGKILL
