"""Banks on disk: read explicitly, searched in shards, never loaded (utils._mmap, _sharded)."""

import json
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import sklearn

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import make_pairs
from sknegsample.neighbors import ShardedSearch
from sknegsample.utils._mmap import FileRows, is_file_backed

ROOT = Path(__file__).resolve().parents[2]


def _save(path, array):
    np.save(path, array)
    return np.load(path, mmap_mode="r")


def test_file_rows_find_slices_of_a_memmap(tmp_path):
    array = np.arange(60, dtype=np.float16).reshape(20, 3)
    mapped = _save(tmp_path / "a.npy", array)
    rows = FileRows.from_memmap(mapped[7:15])
    assert rows.shape == (8, 3) and rows.dtype == np.float64
    np.testing.assert_array_equal(rows[2:5], array[9:12])
    np.testing.assert_array_equal(rows[::3], array[7:15:3])
    np.testing.assert_array_equal(rows[np.array([7, 0, 0])], array[[14, 7, 7]])
    np.testing.assert_array_equal(rows[4], array[11])
    assert float(rows.max()) == 44.0 and float(rows.min()) == 21.0
    np.testing.assert_array_equal(np.asarray(rows), array[7:15])
    with pytest.raises(TypeError, match=r"indexed by rows only .* got a tuple"):
        rows[:, 0]


def test_only_contiguous_float_memmaps_stay_on_disk(tmp_path):
    mapped = _save(tmp_path / "a.npy", np.ones((6, 4), np.float32))
    assert is_file_backed(mapped) and is_file_backed(mapped[2:])
    assert not is_file_backed(mapped[:, :2])  # columns: read into memory instead
    assert not is_file_backed(np.ones((6, 4)))
    assert not is_file_backed(_save(tmp_path / "i.npy", np.ones((6, 4), np.int64)))


def test_a_file_that_shrank_is_named(tmp_path):
    rows = FileRows.from_memmap(_save(tmp_path / "a.npy", np.ones((10, 4), np.float32)))
    np.save(tmp_path / "a.npy", np.ones((4, 4), np.float32))
    with pytest.raises(OSError, match=r"a.npy ended before row 10"):
        rows[0:10]


def test_bad_values_on_disk_are_reported_with_their_row(tmp_path):
    point = np.ones((50, 4), np.float32)
    point[37, 2] = np.nan
    mapped = _save(tmp_path / "p.npy", point)
    sampler = HybridNegativeSampler()
    with pytest.raises(ValueError, match=r"X contains NaN or infinity \(row 37 of the file"):
        sampler.fit(mapped, _save(tmp_path / "c.npy", np.ones((50, 4), np.float32)))
    assert not hasattr(sampler, "n_features_in_")
    good = _save(tmp_path / "g.npy", np.ones((50, 4), np.float32))
    with pytest.raises(ValueError, match=r"must have the same shape as X .* expected "
                                         r"\(50, 4\), got \(50, 3\)"):
        sampler.fit(good, np.ones((50, 3), np.float32))


@pytest.mark.parametrize("dtype", [np.float16, np.float32])
@pytest.mark.parametrize("params", [
    dict(metric="cosine", n_negatives=3, random_rate=0.3, n_candidates=6,
         max_negative_uses=3),
    dict(negative_pool="counters", positive_margin=0.9, metric="cosine", n_negatives=2,
         random_rate=0.0),
    dict(algorithm="kd_tree", n_negatives=2),
], ids=["cosine-window-cap", "counters-margin", "kd_tree"])
def test_sampler_on_memmaps_equals_the_sampler_in_memory(tmp_path, dtype, params):
    point, counter = make_pairs(1500, 16, n_clusters=8, duplicate_rate=0.05, random_state=0)
    point, counter = point.astype(dtype), counter.astype(dtype)
    on_disk = [_save(tmp_path / "p.npy", point), _save(tmp_path / "c.npy", counter)]
    in_memory = HybridNegativeSampler(random_state=0, **params)
    streamed = HybridNegativeSampler(random_state=0, **params)
    with sklearn.config_context(working_memory=0.25):
        expected = in_memory.fit_transform(point, counter)
        negatives = streamed.fit_transform(*on_disk)
    assert isinstance(streamed.search_, ShardedSearch)
    assert streamed.search_._stream_rows(0.25) < 1000  # several shards per search
    np.testing.assert_array_equal(negatives, expected)
    np.testing.assert_array_equal(streamed.negative_distances_, in_memory.negative_distances_)
    assert streamed.n_skipped_ == in_memory.n_skipped_
    np.testing.assert_array_equal(streamed.transform(point[:200]),
                                  in_memory.transform(point[:200]))


def test_label_mode_on_a_memmap(tmp_path):
    point, _ = make_pairs(800, 8, n_clusters=4, random_state=1)
    labels = np.arange(800) % 37
    params = dict(n_negatives=2, random_rate=0.5, random_state=0)
    expected = HybridNegativeSampler(**params).fit_transform(point, labels)
    got = HybridNegativeSampler(**params).fit_transform(_save(tmp_path / "p.npy", point),
                                                        labels)
    np.testing.assert_array_equal(got, expected)


def test_search_scratch_stays_within_working_memory(tmp_path):
    point, counter = make_pairs(20_000, 64, n_clusters=20, random_state=0)
    on_disk = [_save(tmp_path / "p.npy", point), _save(tmp_path / "c.npy", counter)]
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0)
    bank_bytes = 2 * point.nbytes
    with sklearn.config_context(working_memory=1):
        sampler.fit(*on_disk)
        tracemalloc.start()
        sampler.transform(point[:500], indices=np.arange(500))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    # Shards of half a MiB, their score blocks, the queries: about
    # working_memory, far from the 10 MiB bank.
    assert peak < min(3 * 2**20, bank_bytes / 3), \
        f"{peak / 2**20:.1f} MiB traced for a search of a {bank_bytes / 2**20:.1f} MiB bank"


_CHILD = """
import json, sys
import numpy as np, sklearn
from sknegsample import HybridNegativeSampler
def status(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
HybridNegativeSampler(random_rate=0.0).fit_transform(np.eye(4, 3), np.eye(4, 3))
try:
    open("/proc/self/clear_refs", "w").write("5")  # the high-water mark restarts here
except OSError:
    pass
baseline = status("VmRSS")
point, counter = (np.load(p, mmap_mode="r") for p in sys.argv[1:3])
with sklearn.config_context(working_memory=8):
    sampler = HybridNegativeSampler(random_rate=0.0, random_state=0).fit(point, counter)
    sampler.transform(np.asarray(point[:100]), indices=np.arange(100))
print(json.dumps({"growth": status("VmHWM") - baseline}))
"""


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_resident_memory_stays_well_under_the_bank(tmp_path):
    # 2 x 100 MiB of float32 on disk: the resident set of a fresh process
    # (file pages of mappings included) must not grow by half of it.
    n_pairs, n_features = 100_000, 256
    paths = [tmp_path / "p.npy", tmp_path / "c.npy"]
    rng = np.random.RandomState(0)
    for path, shift in zip(paths, (0.0, 0.05), strict=True):
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                        shape=(n_pairs, n_features))
        for start in range(0, n_pairs, 20_000):
            out[start:start + 20_000] = rng.normal(size=(20_000, n_features)) + shift
        del out
    bank_bytes = 2 * n_pairs * n_features * 4
    run = subprocess.run([sys.executable, "-c", _CHILD, *map(str, paths)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    growth = json.loads(run.stdout.strip().splitlines()[-1])["growth"]
    assert growth < bank_bytes / 2, f"resident set grew by {growth / 2**20:.0f} MiB for " \
                                    f"a {bank_bytes / 2**20:.0f} MiB bank"


@pytest.mark.parametrize("fmt", ["joblib", "skops"])
def test_a_sampler_fitted_on_disk_saves_where_its_bank_is(tmp_path, fmt):
    pytest.importorskip(fmt)
    from sknegsample import load, save

    point, counter = make_pairs(2000, 32, random_state=0)
    on_disk = [_save(tmp_path / "p.npy", point), _save(tmp_path / "c.npy", counter)]
    sampler = HybridNegativeSampler(n_negatives=2, random_state=0).fit(*on_disk)
    save(sampler, tmp_path / f"model.{fmt}", format=fmt)
    loaded = load(tmp_path / f"model.{fmt}", allow_pickle=fmt == "joblib")
    np.testing.assert_array_equal(loaded.transform(point[:300]), sampler.transform(point[:300]))
    # The file holds the paths of the bank, not its 500 KB of rows.
    assert (tmp_path / f"model.{fmt}").stat().st_size < point.nbytes
