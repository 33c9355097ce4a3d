"""scikit-learn's common estimator checks."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from sknegsample import HybridNegativeSampler

_FIT_TRANSFORM_IS_NOT_TRANSFORM = (
    "fit_transform mines for the training anchors and excludes each one's own "
    "group (itself; with 1-D y every row sharing its label), while transform(X) "
    "without indices treats the rows as new queries that only exclude copies of "
    "themselves; transform(X, indices=arange(n)) equals fit_transform, tested "
    "in test_sampler.py."
)
SAMPLER_EXPECTED_FAILURES = {
    # Both checks compare fit_transform(X, y) with fit(X, y).transform(X).
    "check_transformer_general": _FIT_TRANSFORM_IS_NOT_TRANSFORM,
    "check_transformer_data_not_an_array": _FIT_TRANSFORM_IS_NOT_TRANSFORM,
}


@parametrize_with_checks(
    [HybridNegativeSampler(random_state=0)],
    expected_failed_checks=lambda est: SAMPLER_EXPECTED_FAILURES,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)
