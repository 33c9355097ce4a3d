"""scikit-learn's common estimator checks, with no expected failure for the sampler.

``fit_transform(X, y)`` equals ``fit(X, y).transform(X)``: transform
recognises the fitted rows by content (tests/mining/test_contract.py).
"""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknegsample import HybridNegativeSampler


@parametrize_with_checks([HybridNegativeSampler(random_state=0)])
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
