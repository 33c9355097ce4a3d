"""Files saved by the flat 0.1.0 layout (``sknegsample._sampler`` ...) still load.

The fixtures in ``tests/fixtures/legacy_layout`` were written by
``make_fixtures.py`` there, at the last commit before the subpackage move;
their types are recorded under the old module paths.
"""

import zipfile
from pathlib import Path

import numpy as np
import pytest

from sknegsample import BallTreePairScorer, HybridNegativeSampler, load
from sknegsample.datasets import make_pairs
from sknegsample.exceptions import InconsistentVersionWarning

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_layout"


@pytest.fixture
def data():
    return make_pairs(n_pairs=60, n_features=8, random_state=0)


def _load(path):
    return load(path, allow_pickle=True)


def test_fixtures_name_the_old_modules():
    with zipfile.ZipFile(FIXTURES / "sampler_brute.skops") as archive:
        schema = archive.read("schema.json").decode()
    assert "sknegsample._sampler" in schema and "sknegsample._backends" in schema


@pytest.mark.parametrize("algorithm", ["brute", "ball_tree"])
@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_old_sampler_loads_and_mines_the_same(data, algorithm, fmt):
    point, _ = data
    sampler = _load(FIXTURES / f"sampler_{algorithm}.{fmt}")
    assert type(sampler) is HybridNegativeSampler
    expected = np.load(FIXTURES / f"sampler_{algorithm}_expected.npy")
    np.testing.assert_array_equal(sampler.transform(point, indices=np.arange(60)), expected)


@pytest.mark.parametrize("fmt", ["skops", "joblib"])
def test_old_scorer_loads_and_predicts_the_same(data, fmt):
    point, counter = data
    scorer = _load(FIXTURES / f"scorer.{fmt}")
    assert type(scorer) is BallTreePairScorer
    expected = np.load(FIXTURES / "scorer_expected_proba.npy")
    np.testing.assert_allclose(scorer.predict_proba(point[:10], counter[:10]), expected,
                               rtol=1e-6, atol=1e-7)


def test_resaved_old_file_uses_the_new_names(tmp_path, data):
    from sknegsample import save

    sampler = _load(FIXTURES / "sampler_brute.skops")
    save(sampler, tmp_path / "new.skops")
    with zipfile.ZipFile(tmp_path / "new.skops") as archive:
        schema = archive.read("schema.json").decode()
    assert '"sknegsample.mining._sampler"' in schema
    assert '"sknegsample._sampler"' not in schema and '"sknegsample._backends"' not in schema


def test_version_of_old_files_is_checked(data, monkeypatch):
    from sknegsample import _version

    monkeypatch.setattr(_version, "__version__", "0.2.0-test")
    with pytest.warns(InconsistentVersionWarning):
        _load(FIXTURES / "sampler_brute.skops")
