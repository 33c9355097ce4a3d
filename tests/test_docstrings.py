"""Docstrings tell the truth: documented attributes exist, defaults match."""

import ast
import inspect

import numpy as np
import pytest
from numpydoc.docscrape import ClassDoc

import sknegsample

ESTIMATORS = [
    getattr(sknegsample, name)
    for name in sknegsample.__all__
    if inspect.isclass(getattr(sknegsample, name)) and hasattr(getattr(sknegsample, name), "fit")
]


def _fitted(estimator_class):
    rng = np.random.RandomState(0)
    point = rng.normal(size=(30, 4)).astype(np.float32)
    counter = point + 0.1 * rng.normal(size=(30, 4)).astype(np.float32)
    params = {"max_epochs": 1} if "max_epochs" in estimator_class().get_params() else {}
    estimator = estimator_class(random_state=0, **params)
    if hasattr(estimator, "fit_transform"):
        estimator.fit_transform(point, counter)
    else:
        estimator.fit(point, counter)
    return estimator


@pytest.mark.parametrize("estimator_class", ESTIMATORS, ids=lambda c: c.__name__)
def test_documented_attributes_exist_after_fit(estimator_class):
    estimator = _fitted(estimator_class)
    documented = [a.name for a in ClassDoc(estimator_class)["Attributes"]]
    assert documented, "no Attributes section"
    # feature_names_in_ only exists when X had string column names.
    missing = [
        name
        for name in documented
        if name != "feature_names_in_" and not hasattr(estimator, name)
    ]
    assert not missing


@pytest.mark.parametrize("estimator_class", ESTIMATORS, ids=lambda c: c.__name__)
def test_docstring_defaults_match_the_signature(estimator_class):
    signature = inspect.signature(estimator_class)
    for param in ClassDoc(estimator_class)["Parameters"]:
        assert param.name in signature.parameters, f"{param.name} is not a parameter"
        default = signature.parameters[param.name].default
        documented = param.type.split("default=")[-1].strip() if "default=" in param.type else None
        assert documented is not None, f"{param.name} documents no default"
        try:
            documented_value = ast.literal_eval(documented)
        except ValueError:  # a name such as np.float32
            documented_value = documented
        assert documented_value == default or documented == repr(default), (
            param.name,
            documented,
            default,
        )
