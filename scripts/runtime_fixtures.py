"""Writes the SlipwayRuntime test fixtures: small XGBoost and LightGBM models plus the libraries' own predictions.

Run by developers (not CI); the outputs are committed under Tests/SlipwayRuntimeTests/Fixtures/.
Needs `pip install numpy xgboost lightgbm`. Everything is seeded, so a re-run with the same library
versions rewrites identical files.

For each model NAME the script writes the model file (NAME.json for XGBoost, NAME.txt for LightGBM) and
NAME.expected.json:

    {"library": "xgboost 3.2.0", "model": "NAME.json", "features": 8, "outputs": 1,
     "rows": [[0.1, null, ...], ...],        # float32 values; null is a missing value (NaN)
     "expected": [[0.73], ...]}              # the library's predict(): probabilities or values

The input rows mix random values, NaNs, zeros and values exactly at (and one float step either side
of) split thresholds, so `<` versus `<=` and the missing-value directions are all exercised.
"""
import json
import math
import pathlib

import lightgbm as lgb
import numpy as np
import xgboost as xgb

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "SlipwayRuntimeTests" / "Fixtures"
FEATURES = 8
TRAIN_ROWS = 600
TEST_ROWS = 20


def training_data(seed, classes=None, categorical=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES)).astype(np.float32)
    if categorical:
        x[:, 0] = rng.integers(0, 12, size=TRAIN_ROWS).astype(np.float32)
    score = 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.4 * x[:, 3] * x[:, 4] + rng.normal(scale=0.3, size=TRAIN_ROWS)
    if categorical:
        score += np.where(np.isin(x[:, 0], [1, 3, 4, 8]), 1.5, -0.5)
    # Some missing values, so the trees learn default directions.
    mask = rng.random(size=x.shape) < 0.08
    x[mask] = np.nan
    if classes is None:
        return x, score.astype(np.float32)
    if classes == 2:
        return x, (score > 0).astype(np.int32)
    # Unbalanced classes (55/30/15%), so XGBoost estimates a non-zero intercept per class.
    cuts = np.quantile(score, [0.55, 0.85][: classes - 1])
    return x, np.digitize(score, cuts).astype(np.int32)


def test_rows(seed, thresholds, categorical=False):
    """Random rows, then rows with NaNs and zeros, then rows sitting on split thresholds."""
    rng = np.random.default_rng(seed + 1000)
    x = rng.normal(size=(TEST_ROWS, FEATURES)).astype(np.float32)
    if categorical:
        x[:, 0] = rng.integers(0, 12, size=TEST_ROWS).astype(np.float32)
        x[5, 0], x[6, 0], x[7, 0] = -1.0, 40.0, np.nan  # negative, unseen and missing categories
    x[0, :] = np.nan
    x[1, :] = 0.0
    x[2, ::2] = np.nan
    x[3, 1::2] = np.nan
    x[4, 1:4] = np.nan
    for i, (feature, value) in enumerate(thresholds[: 4 * (TEST_ROWS - 8)]):
        row = 8 + i % (TEST_ROWS - 8)
        step = i % 3  # at, just below, just above
        v = np.float32(value)
        if step == 1:
            v = np.nextafter(v, np.float32(-np.inf))
        elif step == 2:
            v = np.nextafter(v, np.float32(np.inf))
        if categorical and feature == 0:
            continue
        x[row, feature] = v
    return x


def xgb_thresholds(booster):
    model = json.loads(booster.save_raw("json"))
    found = []
    for tree in model["learner"]["gradient_booster"]["model"]["trees"]:
        for left, feature, cond in zip(tree["left_children"], tree["split_indices"], tree["split_conditions"]):
            if left != -1:
                found.append((feature, cond))
    return found


def lgb_thresholds(booster):
    found = []
    for tree in booster.dump_model()["tree_info"]:
        stack = [tree["tree_structure"]]
        while stack:
            node = stack.pop()
            if "split_feature" in node:
                if node["decision_type"] == "<=":
                    found.append((node["split_feature"], node["threshold"]))
                stack += [node["left_child"], node["right_child"]]
    return found


def write(name, model_file, library, rows, expected, outputs):
    def cell(v):
        return None if math.isnan(v) else float(v)

    doc = {
        "library": library,
        "model": model_file,
        "features": FEATURES,
        "outputs": outputs,
        "rows": [[cell(v) for v in row] for row in rows.tolist()],
        "expected": [[float(v) for v in row] for row in np.asarray(expected, dtype=np.float64).reshape(len(rows), outputs)],
    }
    (OUT / f"{name}.expected.json").write_text(json.dumps(doc, indent=None, separators=(",", ":")) + "\n")


def xgboost_fixture(name, params, rounds, seed, classes=None, outputs=1):
    x, y = training_data(seed, classes)
    params = {**params, "seed": seed, "nthread": 1}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, missing=np.nan), num_boost_round=rounds)
    booster.save_model(str(OUT / f"{name}.json"))
    # Reload from the file, so the predictions are those of exactly what was written.
    reloaded = xgb.Booster(model_file=str(OUT / f"{name}.json"))
    rows = test_rows(seed, xgb_thresholds(reloaded))
    expected = reloaded.predict(xgb.DMatrix(rows, missing=np.nan))
    write(name, f"{name}.json", f"xgboost {xgb.__version__}", rows, expected, outputs)


def lightgbm_fixture(name, params, rounds, seed, classes=None, outputs=1, categorical=False):
    x, y = training_data(seed, classes, categorical)
    params = {**params, "seed": seed, "num_threads": 1, "verbose": -1, "deterministic": True}
    data = lgb.Dataset(x.astype(np.float64), label=y, categorical_feature=[0] if categorical else "auto")
    booster = lgb.train(params, data, num_boost_round=rounds)
    booster.save_model(str(OUT / f"{name}.txt"))
    reloaded = lgb.Booster(model_file=str(OUT / f"{name}.txt"))
    rows = test_rows(seed, lgb_thresholds(reloaded), categorical)
    expected = reloaded.predict(rows.astype(np.float64))
    write(name, f"{name}.txt", f"lightgbm {lgb.__version__}", rows, expected, outputs)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    xgboost_fixture("xgb_binary", {"objective": "binary:logistic", "max_depth": 4, "eta": 0.3}, 15, seed=11, classes=2)
    xgboost_fixture("xgb_regression", {"objective": "reg:squarederror", "max_depth": 4, "eta": 0.3}, 15, seed=12)
    xgboost_fixture(
        "xgb_multiclass",
        {"objective": "multi:softprob", "num_class": 3, "max_depth": 3, "eta": 0.3},
        6, seed=13, classes=3, outputs=3,
    )
    # A tiny model: the seed for the mutation (fuzz) tests.
    xgboost_fixture("xgb_tiny", {"objective": "binary:logistic", "max_depth": 2, "eta": 0.5}, 2, seed=14, classes=2)

    lightgbm_fixture("lgb_binary", {"objective": "binary", "num_leaves": 8, "learning_rate": 0.2}, 15, seed=21, classes=2)
    lightgbm_fixture(
        "lgb_regression",
        {"objective": "regression", "num_leaves": 8, "learning_rate": 0.2, "zero_as_missing": True},
        15, seed=22,
    )
    lightgbm_fixture(
        "lgb_multiclass",
        {"objective": "multiclass", "num_class": 3, "num_leaves": 6, "learning_rate": 0.2},
        6, seed=23, classes=3, outputs=3,
    )
    lightgbm_fixture(
        "lgb_categorical",
        {"objective": "binary", "num_leaves": 8, "learning_rate": 0.2, "min_data_per_group": 5, "cat_smooth": 1},
        12, seed=24, classes=2, categorical=True,
    )
    lightgbm_fixture("lgb_tiny", {"objective": "binary", "num_leaves": 3, "learning_rate": 0.5}, 2, seed=25, classes=2)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT} ({total} bytes)")


if __name__ == "__main__":
    main()
