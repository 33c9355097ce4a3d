"""Validation helpers: messages name the argument and report the value received."""

import re

import numpy as np
import pytest

from sknegsample import HybridNegativeSampler
from sknegsample.utils._validation import check_indices

X = np.random.RandomState(0).normal(size=(6, 3))


@pytest.mark.parametrize("indices, reported", [
    (np.array([2**63 + 5, 1], dtype=np.uint64), "9223372036854775813"),
    (np.array([2**64 - 1, 1], dtype=np.uint64), "18446744073709551615"),
    (np.array([1, 200], dtype=np.uint8), "200"),
    (np.array([-2, 1], dtype=np.int8), "-2"),
])
def test_out_of_range_indices_report_the_value_given(indices, reported):
    with pytest.raises(ValueError, match=rf"indices must lie in \[0, 6\) .*got {reported}\.$"):
        check_indices(indices, n_queries=2, n_indexable=6)


def test_small_unsigned_indices_are_accepted():
    out = check_indices(np.array([5, 0], dtype=np.uint64), n_queries=2, n_indexable=6)
    assert out.dtype == np.int64 and out.tolist() == [5, 0]


@pytest.mark.parametrize("labels, kinds", [
    (["a", 1, "b", 2, "a", 1], "['int', 'str']"),
    ([None, 1, 2, 3, 4, 5], "['NoneType', 'int']"),
    ([{}, 1, 2, 3, 4, 5], "['dict', 'int']"),
])
def test_labels_of_mixed_kinds_name_y(labels, kinds):
    y = np.empty(len(labels), dtype=object)
    y[:] = labels
    match = r"y as a 1-D label vector .* one comparable kind .*got labels of types "
    with pytest.raises(ValueError, match=match + re.escape(kinds)):
        HybridNegativeSampler(random_state=0).fit(X, y)


def test_labels_of_one_kind_in_an_object_array_are_accepted():
    y = np.array(["a", "b", "a", "c", "b", "c"], dtype=object)
    negatives = HybridNegativeSampler(random_state=0).fit_transform(X, y)
    assert negatives.shape == (6, 1)
