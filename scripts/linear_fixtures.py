#!/usr/bin/env python3
"""Writes Tests/SlipwayMLTests/Linear/Fixtures/*.json: small data sets with scikit-learn's fitted
coefficients and predictions, which the Swift linear trainers must reproduce.

Usage: python3 scripts/linear_fixtures.py   (needs numpy and scikit-learn; any recent version)

Every fixture holds `feature_names`, `rows` (null marks a missing value), `labels` and a list of `cases`,
each one fit of one configuration: its hyperparameters, `coef` (one row per output), `intercept`, the
scaler's `mean`/`scale` when standardised, and `predictions` for every row ([row][output], after the
link). Missing values are imputed with the training mean (SimpleImputer) before anything else, the
same rule the Swift trainers follow.
"""

import json
import pathlib

import numpy as np
import sklearn
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/SlipwayMLTests/Linear/Fixtures"


def features(rng, n, d, missing):
    """Features with different means and scales, so that standardising matters; `missing` NaNs."""
    means = rng.uniform(-3, 3, d)
    scales = rng.uniform(0.5, 5, d)
    x = rng.normal(size=(n, d)) * scales + means
    z = (x - means) / scales
    holes = x.copy()
    for _ in range(missing):
        holes[rng.integers(n), rng.integers(d)] = np.nan
    return holes, z


def fit_case(name, model, x, standardize, hyper, output):
    """Fits `model` after mean imputation (and scaling when `standardize`), returns one case."""
    steps = [SimpleImputer(strategy="mean")]
    if standardize:
        steps.append(StandardScaler())
    pipeline = make_pipeline(*steps, model).fit(x, output["y"])
    coef = np.atleast_2d(model.coef_)
    intercept = np.atleast_1d(model.intercept_)
    case = {
        "name": name,
        "standardize": standardize,
        **hyper,
        "coef": coef.tolist(),
        "intercept": intercept.tolist(),
        "predictions": output["predict"](pipeline, x).tolist(),
    }
    if standardize:
        scaler = pipeline.steps[1][1]
        case["mean"] = scaler.mean_.tolist()
        case["scale"] = scaler.scale_.tolist()
    if getattr(model, "n_iter_", None) is not None:
        case["sklearn_iterations"] = int(np.max(model.n_iter_))
    return case


def write(name, x, y, cases, extra=None):
    rows = [[None if np.isnan(v) else float(v) for v in row] for row in x]
    payload = {
        "generator": f"scripts/linear_fixtures.py with scikit-learn {sklearn.__version__}",
        "feature_names": [f"f{j}" for j in range(x.shape[1])],
        "rows": rows,
        "labels": [float(v) for v in y],
        **(extra or {}),
        "cases": cases,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(payload, indent=1) + "\n")
    print("wrote", OUT / f"{name}.json")


def logistic(C):
    # Tight tolerance so the fixture is the optimum itself, not wherever lbfgs happened to stop.
    return LogisticRegression(C=C, solver="lbfgs", tol=1e-10, max_iter=10_000)


def probabilities(pipeline, x):
    return pipeline.predict_proba(x)


def positive_probability(pipeline, x):
    return pipeline.predict_proba(x)[:, 1:]


def main():
    rng = np.random.default_rng(20240611)

    # Binary: 300 rows, 4 features, a few missing values.
    x, z = features(rng, 300, 4, missing=6)
    true_coef = np.array([1.5, -2.0, 0.5, 0.0])
    y = (rng.uniform(size=300) < 1 / (1 + np.exp(-(z @ true_coef + 0.3)))).astype(float)
    out = {"y": y, "predict": positive_probability}
    write(
        "logistic_binary",
        x,
        y,
        [
            fit_case("raw_C0.5", logistic(0.5), x, False, {"C": 0.5}, out),
            fit_case("standardized_C1", logistic(1.0), x, True, {"C": 1.0}, out),
            fit_case("standardized_C0.05", logistic(0.05), x, True, {"C": 0.05}, out),
        ],
        {"true_standardized_coef": true_coef.tolist(), "true_intercept": 0.3},
    )

    # Multinomial: 300 rows, 3 features, 3 classes.
    x, z = features(rng, 300, 3, missing=4)
    true_coef = np.array([[2.0, 0.0, -1.0], [-1.0, 1.5, 0.0], [-1.0, -1.5, 1.0]])
    margins = z @ true_coef.T
    p = np.exp(margins - margins.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p], dtype=float)
    out = {"y": y, "predict": probabilities}
    write(
        "logistic_multinomial",
        x,
        y,
        [
            fit_case("raw_C2", logistic(2.0), x, False, {"C": 2.0}, out),
            fit_case("standardized_C1", logistic(1.0), x, True, {"C": 1.0}, out),
        ],
        {"true_standardized_coef": true_coef.tolist()},
    )

    # Ridge: 120 rows, 5 features, a few missing values.
    x, z = features(rng, 120, 5, missing=5)
    y = z @ np.array([3.0, -1.0, 0.0, 2.0, 0.5]) + 10 + rng.normal(scale=0.5, size=120)
    out = {"y": y, "predict": lambda pipeline, x: pipeline.predict(x)[:, None]}
    write(
        "ridge",
        x,
        y,
        [
            fit_case("raw_alpha1", Ridge(alpha=1.0), x, False, {"alpha": 1.0}, out),
            fit_case("standardized_alpha1", Ridge(alpha=1.0), x, True, {"alpha": 1.0}, out),
            fit_case("standardized_alpha25", Ridge(alpha=25.0), x, True, {"alpha": 25.0}, out),
            fit_case("raw_ols", LinearRegression(), x, False, {"alpha": 0.0}, out),
        ],
    )


if __name__ == "__main__":
    main()
