"""Two-stage top-k selection against a full sort (sknegsample.neighbors._select)."""

import numpy as np
import pytest
import torch

from sknegsample.neighbors._select import merge_smallest, smallest_per_column, smallest_per_row


def _block(n_rows, width, seed, kind):
    rng = np.random.RandomState(seed)
    if kind == "ties":
        # Few distinct values: many ties at the k-th value.
        values = rng.randint(0, 4, size=(n_rows, width)).astype(np.float32)
    else:
        values = rng.normal(size=(n_rows, width)).astype(np.float32)
    if kind == "inf":
        values[rng.uniform(size=values.shape) < 0.7] = np.inf
        values[0] = np.inf  # a row with nothing finite
    return values


def _check_rows(values, out_values, out_index, k):
    """Each row's output holds its k smallest values, at the indices given."""
    expected = np.sort(values, axis=1)[:, :k]
    got = np.sort(out_values.numpy(), axis=1)
    np.testing.assert_array_equal(got[:, : expected.shape[1]], expected)
    assert out_values.shape == (len(values), k)
    index = out_index.numpy()
    real = index >= 0
    # Every returned index points at the value returned with it, no index twice.
    rows = np.nonzero(real)[0]
    np.testing.assert_array_equal(values[rows, index[real]], out_values.numpy()[real])
    for row in range(len(values)):
        kept = index[row][index[row] >= 0]
        assert len(set(kept.tolist())) == len(kept)
    # Padding only where a row has fewer than k entries.
    assert real.sum(axis=1).min() >= min(k, values.shape[1])


@pytest.mark.parametrize("kind", ["normal", "ties", "inf"])
@pytest.mark.parametrize("width", [1, 7, 31, 32, 33, 100, 257, 1000, 2000])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_smallest_per_row_equals_a_full_sort(width, k, kind):
    values = _block(9, width, seed=width + k, kind=kind)
    out_values, out_cols = smallest_per_row(torch.from_numpy(values), k)
    _check_rows(values, out_values, out_cols, k)


@pytest.mark.parametrize("kind", ["normal", "ties", "inf"])
@pytest.mark.parametrize("n_rows", [1, 7, 15, 16, 17, 100, 257, 300])
@pytest.mark.parametrize("k", [1, 5, 12])
def test_smallest_per_column_equals_a_full_sort(n_rows, k, kind):
    values = _block(n_rows, 11, seed=n_rows + k, kind=kind)
    out_values, out_rows = smallest_per_column(torch.from_numpy(values), k)
    _check_rows(values.T.copy(), out_values, out_rows, k)


@pytest.mark.parametrize("kind", ["normal", "ties", "inf"])
@pytest.mark.parametrize("width", [9999, 10000, 10047])
def test_many_groups_and_a_tail(width, kind):
    # k=37 of ~10k columns: the two-stage path with 156-157 groups, the
    # tail after the last whole group (15, 0 or 62 columns) beside them.
    values = _block(5, width, seed=width, kind=kind)
    values[1, -3:] = -10.0  # the smallest sit in the tail
    _check_rows(values, *smallest_per_row(torch.from_numpy(values), 37), 37)


def test_int32_views_select_like_floats():
    # The floor selection reads float blocks as int32 (_select_above_floor).
    values = _block(4, 10047, seed=2, kind="normal")
    as_int = values.view(np.int32)
    out_values, out_cols = smallest_per_row(torch.from_numpy(as_int), 37)
    _check_rows(as_int, out_values, out_cols, 37)


def test_strided_views_are_read_in_place():
    # Blocks are views into a larger buffer (a slice of columns, of rows).
    buffer = _block(64, 500, seed=3, kind="normal")
    view = torch.from_numpy(buffer)[5:60, 40:433]
    expected = buffer[5:60, 40:433]
    _check_rows(expected, *smallest_per_row(view, 6), 6)
    _check_rows(expected.T.copy(), *smallest_per_column(view, 6), 6)


def test_merge_keeps_the_smallest_of_both():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(2, 20, 4)).astype(np.float32)
    ids_a = torch.arange(4).expand(20, -1)
    ids_b = torch.arange(4, 8).expand(20, -1)
    values, ids = merge_smallest(torch.from_numpy(a), ids_a, torch.from_numpy(b), ids_b)
    both = np.hstack([a, b])
    np.testing.assert_array_equal(np.sort(values.numpy(), axis=1),
                                  np.sort(both, axis=1)[:, :4])
    np.testing.assert_array_equal(np.take_along_axis(both, ids.numpy(), axis=1),
                                  values.numpy())
