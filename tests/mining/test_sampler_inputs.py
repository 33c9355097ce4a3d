"""Bad input to HybridNegativeSampler: a clear error that names the argument."""

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.exceptions import NotFittedError

from sknegsample import HybridNegativeSampler


def _pairs(n_pairs=20, n_features=4):
    rng = np.random.RandomState(0)
    point = rng.normal(size=(n_pairs, n_features))
    return point, point + 0.1 * rng.normal(size=(n_pairs, n_features))


POINT, COUNTER = _pairs()


def _with(array, row, col, value):
    out = array.copy()
    out[row, col] = value
    return out


FIT_CASES = {
    "shape mismatch": (POINT, COUNTER[:, :3], ValueError, r"y .* same shape as X"),
    "pair-count mismatch": (POINT, COUNTER[:15], ValueError, r"expected \(20, 4\), got \(15, 4\)"),
    "1-D X": (POINT[:, 0], COUNTER, ValueError, "X must be a 2-D array"),
    "3-D X": (POINT[None], COUNTER, ValueError, "X must be a 2-D array"),
    "3-D y": (POINT, COUNTER[None], ValueError, "y must be a 2-D counter matrix"),
    "NaN in X": (_with(POINT, 0, 0, np.nan), COUNTER, ValueError, "Input X contains NaN"),
    "inf in y": (POINT, _with(COUNTER, 1, 1, np.inf), ValueError, "Input y contains infinity"),
    "empty": (POINT[:0], COUNTER[:0], ValueError, "0 sample"),
    "too few pairs": (POINT[:1], COUNTER[:1], ValueError,
                      r"negative_pool='both' leaves too few negatives for n_negatives=1"),
    "sparse X": (sp.csr_matrix(POINT), COUNTER, TypeError, "Sparse data was passed for X"),
    "sparse y": (POINT, sp.csr_matrix(COUNTER), TypeError, "Sparse data was passed for y"),
    "object words": (
        np.full((20, 4), "word", dtype=object),
        COUNTER,
        ValueError,
        "could not convert string to float",
    ),
    "label count": (POINT, np.arange(5), ValueError, "one label per row of X"),
}


@pytest.mark.parametrize("case", sorted(FIT_CASES))
def test_fit_rejects_bad_input(case):
    X, y, error, match = FIT_CASES[case]
    with pytest.raises(error, match=match):
        HybridNegativeSampler().fit(X, y)


def test_non_numeric_text_is_rejected_with_the_argument_name():
    with pytest.raises(ValueError, match="numeric|convert"):
        HybridNegativeSampler().fit(np.array([["a", "b"], ["c", "d"]]))


@pytest.mark.parametrize(
    "params, match",
    [
        ({"n_negatives": 0}, "'n_negatives' parameter"),
        ({"random_rate": 1.5}, "'random_rate' parameter"),
        ({"metric": "manhattan"}, "'metric' parameter"),
        ({"algorithm": "annoy"}, "'algorithm' parameter"),
        ({"leaf_size": 0}, "'leaf_size' parameter"),
        ({"positive_margin": 0.0}, "'positive_margin' parameter"),
        ({"n_candidates": 1, "n_negatives": 2}, "n_candidates must be >= n_negatives"),
        ({"n_negatives": 39}, "too few negatives for n_negatives=39"),
        (
            {"algorithm": "brute", "search_params": {"M": 4}},
            "search_params must be empty for algorithm='brute'",
        ),
        ({"algorithm": "hnswlib", "search_params": {"efs": 4}}, "unknown keys"),
        # Without CUDA the device check speaks first.
        ({"device": "cuda", "algorithm": "ball_tree"},
         "runs the brute-force backend only|device='cuda' needs CUDA"),
        ({"device": "cpu,nonsense"}, "device"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        HybridNegativeSampler(**params).fit(POINT, COUNTER)


def test_positive_margin_needs_pairs():
    with pytest.raises(ValueError, match="positive_margin needs paired data"):
        HybridNegativeSampler(positive_margin=0.9).fit(POINT, np.arange(20) % 3)


def test_cosine_rejects_zero_rows():
    with pytest.raises(ValueError, match="row 2 of X and y has norm 0"):
        HybridNegativeSampler(metric="cosine").fit(_with(POINT, 2, slice(None), 0.0), COUNTER)


@pytest.mark.parametrize(
    "X, indices, error, match",
    [
        (POINT[:, :3], None, ValueError, "X has 3 features"),
        (POINT[:, 0], None, ValueError, "X must be a 2-D array|Expected 2D array"),
        (_with(POINT, 0, 0, np.nan), None, ValueError, "Input X contains NaN"),
        (POINT[:0], None, ValueError, "0 sample"),
        (sp.csr_matrix(POINT), None, TypeError, "Sparse data was passed for X"),
        (POINT, np.arange(5), ValueError, "indices must have one entry per query row"),
        (POINT, np.arange(20) + 1, ValueError, r"indices must lie in \[0, 20\).*got 20"),
        (POINT, -np.ones(20, dtype=int), ValueError, r"indices must lie in .*got -1"),
        (POINT, np.arange(20) * 1.0, TypeError, "indices must hold integers"),
        (POINT, np.arange(20).reshape(4, 5), ValueError, "indices must be a 1-D array"),
        # Beyond float32 at the fit's scale: not a fitted row (its content
        # key overflowed with a RuntimeWarning before), then refused by name.
        (np.full((2, POINT.shape[1]), 1.4e39), None, ValueError, "X holds values too large"),
        # +inf and -inf in one row: scikit-learn's finiteness check sums to NaN
        # (a RuntimeWarning before its own error); float16 as the fuzzer found it.
        (_with(_with(POINT, 0, 0, np.inf), 0, 1, -np.inf).astype(np.float16), None, ValueError,
         "X contains infinity"),
    ],
)
def test_transform_rejects_bad_input_and_stays_usable(X, indices, error, match):
    sampler = HybridNegativeSampler(random_state=0).fit(POINT, COUNTER)
    before = sampler.transform(POINT, indices=np.arange(20))
    with pytest.raises(error, match=match):
        sampler.transform(X, indices=indices)
    np.testing.assert_array_equal(sampler.transform(POINT, indices=np.arange(20)), before)


def test_transform_before_fit():
    with pytest.raises(NotFittedError):
        HybridNegativeSampler().transform(POINT)
