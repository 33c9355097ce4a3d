"""algorithm="faiss_ivf": recall against exact search, the nprobe calibration, persistence."""

import io

import joblib
import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.datasets import load_manpage_pairs, make_pairs
from sknegsample.neighbors import NeighborSearch
from sknegsample.neighbors.backends._params import IVF_TARGET_RECALL, ivf_params

faiss = pytest.importorskip("faiss")


def latent_pairs(n_pairs, n_features=64, seed=0):
    """Embedding-like pairs: a clustered 16-d latent mapped linearly, plus noise.

    The generator of ``benchmarks/ann_1m.py``, at a test's size.
    """
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=4.0, size=(200, 16))
    latent = centers[rng.randint(200, size=n_pairs)] + rng.normal(size=(n_pairs, 16))
    point = latent @ (rng.normal(size=(16, n_features)) / 4.0)
    point += 0.05 * rng.normal(size=point.shape)
    counter = point + 0.1 * rng.normal(size=point.shape)
    return point.astype(np.float32), counter.astype(np.float32)


def _recall_at_1(point, counter, metric):
    """Share of anchors whose mined hard negative is the exact one."""
    params = dict(random_rate=0.0, metric=metric, random_state=0)
    exact = HybridNegativeSampler(algorithm="brute", **params).fit_transform(point, counter)
    sampler = HybridNegativeSampler(algorithm="faiss_ivf", **params)
    ivf = sampler.fit_transform(point, counter)
    return float(np.mean(ivf == exact)), sampler.search_.backend_


@pytest.mark.parametrize("data", ["manpage", "latent"])
def test_recall_at_defaults(data):
    if data == "manpage":
        bunch = load_manpage_pairs()
        point, counter, metric = bunch.point, bunch.counter, "cosine"
    else:
        point, counter = latent_pairs(8000)
        metric = "euclidean"
    recall, backend = _recall_at_1(point, counter, metric)
    assert recall >= 0.95, (f"faiss_ivf recall@1 = {recall:.3f} < 0.95 at defaults on {data} "
                            f"(nlist={backend.nlist_}, nprobe={backend.nprobe_})")
    # The calibration chose a real subset of the lists, not all of them.
    assert backend.nprobe_ < backend.nlist_
    assert backend.calibration_recall_ >= IVF_TARGET_RECALL


def test_the_default_rule():
    assert ivf_params(None, 2_000_000) == {"nlist": 1414, "nprobe": None}
    # At least 39 training rows per list; at least one list.
    assert ivf_params(None, 1000)["nlist"] == 25
    assert ivf_params(None, 10)["nlist"] == 1
    assert ivf_params({"nlist": 7, "nprobe": 7}, 10) == {"nlist": 7, "nprobe": 7}


def test_a_given_nprobe_is_used_as_is():
    point, counter = latent_pairs(3000)
    search = NeighborSearch(algorithm="faiss_ivf", search_params={"nlist": 40, "nprobe": 3})
    backend = search.fit(np.vstack([point, counter])).backend_
    assert (backend.nlist_, backend.nprobe_) == (40, 3)
    assert not hasattr(backend, "calibration_recall_")


def test_rows_whose_lists_run_out_probe_more():
    # 64 lists, one probed: a list holds ~40 rows, fewer than the k asked.
    point, counter = make_pairs(1300, 8, n_clusters=50, random_state=0)
    bank = np.vstack([point, counter])
    search = NeighborSearch(algorithm="faiss_ivf", search_params={"nlist": 64, "nprobe": 1})
    found = search.fit(bank).kneighbors(point[:50], 60)
    assert (found.ids >= 0).all() and np.isfinite(found.distances).all()


def test_the_index_depends_on_random_state_only():
    point, counter = latent_pairs(4000)
    bank = np.vstack([point, counter])
    answers = [NeighborSearch(algorithm="faiss_ivf", random_state=seed).fit(bank)
               .kneighbors(point[:500], 5).ids for seed in (0, 0, 1)]
    np.testing.assert_array_equal(answers[0], answers[1])
    sizes = [_list_sizes(NeighborSearch(algorithm="faiss_ivf", random_state=seed).fit(bank))
             for seed in (0, 1)]
    assert sizes[0] != sizes[1]


def _list_sizes(search):
    index = search.backend_.index_
    return [index.invlists.list_size(i) for i in range(index.nlist)]


def test_the_index_is_saved_not_retrained():
    point, counter = latent_pairs(3000)
    sampler = HybridNegativeSampler(algorithm="faiss_ivf", n_negatives=3, random_rate=0.3,
                                    random_state=0).fit(point, counter)
    buffer = io.BytesIO()
    joblib.dump(sampler, buffer)
    buffer.seek(0)
    loaded = joblib.load(buffer)
    assert loaded.search_.backend_.nprobe_ == sampler.search_.backend_.nprobe_
    np.testing.assert_array_equal(loaded.transform(point[:400]), sampler.transform(point[:400]))
    assert _list_sizes(loaded.search_) == _list_sizes(sampler.search_)
