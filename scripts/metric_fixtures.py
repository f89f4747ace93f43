#!/usr/bin/env python3
"""Writes the scikit-learn reference values that Tests/SlipwayMLTests/Metrics checks against.

Run from the repository root with a Python that has numpy and scikit-learn:

    python scripts/metric_fixtures.py

Inputs are seeded, so rerunning with the same library versions rewrites identical files. Each fixture
records the scikit-learn and numpy versions used. Undefined metrics are written as null.
"""

import json
import math
import pathlib
import warnings

import numpy as np
import sklearn
from sklearn import metrics

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests/SlipwayMLTests/Metrics/Fixtures"
VERSIONS = {"sklearn": sklearn.__version__, "numpy": np.__version__}


def f(x):
    """A plain float, or None for an undefined value."""
    return None if x is None else float(x)


def binary_case(name, labels, probs, threshold=0.5):
    labels = np.asarray(labels, dtype=int)
    probs = np.asarray(probs, dtype=float)
    pred = (probs >= threshold).astype(int)
    both = len(np.unique(labels)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {
            "accuracy": metrics.accuracy_score(labels, pred),
            "precision": metrics.precision_score(labels, pred, zero_division=0),
            "recall": metrics.recall_score(labels, pred, zero_division=0),
            "f1": metrics.f1_score(labels, pred, zero_division=0),
            "roc_auc": metrics.roc_auc_score(labels, probs) if both else None,
            "average_precision": metrics.average_precision_score(labels, probs) if labels.sum() > 0 else None,
            "log_loss": metrics.log_loss(labels, probs, labels=[0, 1]),
            "brier_score": metrics.brier_score_loss(labels, probs, labels=[0, 1]),
        }
    return {
        "name": name,
        "threshold": threshold,
        "labels": labels.tolist(),
        "probabilities": probs.tolist(),
        "expected": {k: f(v) for k, v in expected.items()},
        "confusion_matrix": metrics.confusion_matrix(labels, pred, labels=[0, 1]).tolist(),
    }


def binary_cases(rng):
    cases = []
    # Scores on a 0.01 grid (many ties), labels correlated with the score.
    n = 300
    probs = np.round(rng.beta(2, 2, n), 2)
    labels = (rng.random(n) < probs).astype(int)
    cases.append(binary_case("grid_0.01_n300", labels, probs))
    # Five distinct scores only; 0 and 1 exactly (log-loss clipping); a score equal to the threshold.
    n = 200
    probs = rng.choice([0.0, 0.1, 0.3, 0.5, 0.7, 0.9, 1.0], n)
    labels = (rng.random(n) < np.clip(probs, 0.05, 0.95)).astype(int)
    cases.append(binary_case("heavy_ties_with_0_and_1", labels, probs))
    cases.append(binary_case("heavy_ties_threshold_0.3", labels, probs, threshold=0.3))
    # Imbalanced, nothing predicted positive: precision and F1 hit zero_division.
    n = 150
    probs = np.round(rng.random(n) * 0.4, 3)
    labels = (rng.random(n) < 0.1).astype(int)
    labels[0] = 1
    cases.append(binary_case("imbalanced_no_predicted_positive", labels, probs))
    # Continuous scores, no ties.
    n = 250
    probs = rng.random(n)
    labels = (rng.random(n) < probs**2).astype(int)
    cases.append(binary_case("continuous_n250", labels, probs, threshold=0.6))
    # One class only: AUC undefined; average precision undefined without positives.
    cases.append(binary_case("only_negatives", np.zeros(20, dtype=int), np.round(rng.random(20), 1)))
    cases.append(binary_case("only_positives", np.ones(20, dtype=int), np.round(rng.random(20), 1)))
    return cases


def quantised_rows(rng, n, k, steps):
    """Probability rows that are multiples of 1/steps (many ties), summing to 1."""
    rows = []
    for _ in range(n):
        counts = rng.multinomial(steps, rng.dirichlet(np.ones(k)))
        rows.append(counts / steps)
    return np.array(rows)


def multiclass_case(name, labels, probs):
    labels = np.asarray(labels, dtype=int)
    k = probs.shape[1]
    pred = probs.argmax(axis=1)
    all_present = len(np.unique(labels)) == k
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {"accuracy": metrics.accuracy_score(labels, pred)}
        for average in ("macro", "weighted"):
            expected[f"precision_{average}"] = metrics.precision_score(labels, pred, average=average, zero_division=0)
            expected[f"recall_{average}"] = metrics.recall_score(labels, pred, average=average, zero_division=0)
            expected[f"f1_{average}"] = metrics.f1_score(labels, pred, average=average, zero_division=0)
        # Per class, one-vs-rest on its own column; undefined for a class absent from the labels.
        class_auc = [metrics.roc_auc_score(labels == c, probs[:, c]) if (labels == c).any() else None for c in range(k)]
        class_ap = [
            metrics.average_precision_score(labels == c, probs[:, c]) if (labels == c).any() else None
            for c in range(k)
        ]
        if not all_present:
            expected["roc_auc_ovr"] = expected["average_precision"] = None
        elif k > 2:
            expected["roc_auc_ovr"] = metrics.roc_auc_score(labels, probs, multi_class="ovr", average="macro")
            expected["average_precision"] = metrics.average_precision_score(labels, probs, average="macro")
        else:
            # sklearn treats two classes as binary (one score column); the macro over both columns is
            # the mean of the per-column binary scores.
            expected["roc_auc_ovr"] = np.mean(class_auc)
            expected["average_precision"] = np.mean(class_ap)
        expected["log_loss"] = metrics.log_loss(labels, probs, labels=list(range(k)))
        expected["brier_score"] = metrics.brier_score_loss(labels, probs, labels=list(range(k)))
    return {
        "name": name,
        "labels": labels.tolist(),
        "probabilities": probs.tolist(),
        "expected": {key: f(v) for key, v in expected.items()},
        "confusion_matrix": metrics.confusion_matrix(labels, pred, labels=list(range(k))).tolist(),
        "class_roc_auc": [f(v) for v in class_auc],
        "class_average_precision": [f(v) for v in class_ap],
    }


def noisy_labels(rng, probs, noise):
    """Labels drawn mostly from the rows' own probabilities, sometimes uniformly."""
    k = probs.shape[1]
    return np.array([rng.integers(k) if rng.random() < noise else rng.choice(k, p=row) for row in probs])


def multiclass_cases(rng):
    cases = []
    probs = quantised_rows(rng, 300, 3, 10)
    cases.append(multiclass_case("k3_tenths_n300", noisy_labels(rng, probs, 0.2), probs))
    probs = quantised_rows(rng, 200, 5, 20)
    cases.append(multiclass_case("k5_twentieths_n200", noisy_labels(rng, probs, 0.3), probs))
    probs = rng.dirichlet(np.ones(4) * 0.7, 150)
    cases.append(multiclass_case("k4_continuous_n150", noisy_labels(rng, probs, 0.1), probs))
    # Class 3 never occurs in the labels (never predicted either): OvR AUC / AP undefined and
    # class 3 left out of the macro averages.
    probs = quantised_rows(rng, 120, 3, 10)
    probs = np.hstack([probs * 0.9, np.full((120, 1), 0.1)])
    labels = noisy_labels(rng, probs[:, :3] / 0.9, 0.2)
    cases.append(multiclass_case("k4_class3_absent", labels, probs))
    # Two columns: Brier is halved (sklearn scale_by_half="auto").
    p = np.round(rng.random(100), 1)
    probs = np.stack([1 - p, p], axis=1)
    cases.append(multiclass_case("k2_columns", (rng.random(100) < p).astype(int), probs))
    return cases


def regression_case(name, labels, preds):
    labels = np.asarray(labels, dtype=float)
    preds = np.asarray(preds, dtype=float)
    return {
        "name": name,
        "labels": labels.tolist(),
        "predictions": preds.tolist(),
        "expected": {
            "mse": f(metrics.mean_squared_error(labels, preds)),
            "rmse": f(metrics.root_mean_squared_error(labels, preds)),
            "mae": f(metrics.mean_absolute_error(labels, preds)),
            "r2": f(metrics.r2_score(labels, preds)),
        },
    }


def regression_cases(rng):
    x = rng.normal(size=300)
    labels = 3 * x + rng.normal(size=300)
    cases = [regression_case("linear_noise_n300", labels, 3 * x)]
    cases.append(regression_case("poor_fit_negative_r2", labels, rng.normal(size=300) * 5))
    labels = np.round(rng.normal(size=80) * 10, 0)
    cases.append(regression_case("integer_targets_with_ties", labels, labels + np.round(rng.normal(size=80), 1)))
    cases.append(regression_case("constant_target_exact", np.full(10, 3.0), np.full(10, 3.0)))
    cases.append(regression_case("constant_target_inexact", np.full(10, 3.0), np.full(10, 3.0) + np.arange(10) / 10))
    return cases


def apk(ranking, relevant, k):
    """ml_metrics.apk for rankings without repeats."""
    hits, total = 0, 0.0
    for i, item in enumerate(ranking[:k]):
        if item in relevant:
            hits += 1
            total += hits / (i + 1)
    return total / min(k, len(relevant))


def ranking_case(name, rng, users, catalogue, k, graded):
    items = [f"i{j}" for j in range(catalogue)]
    rankings, gains_list = [], []
    for u in range(users):
        ranking = [items[j] for j in rng.permutation(catalogue)]
        count = 0 if u % 7 == 3 else int(rng.integers(1, max(2, catalogue // 3)))
        chosen = rng.choice(catalogue, size=count, replace=False)
        values = rng.integers(1, 4, size=count).astype(float) if graded else np.ones(count)
        rankings.append(ranking)
        gains_list.append({items[j]: float(v) for j, v in zip(chosen, values)})
    precisions, recalls, ndcgs, maps = [], [], [], []
    for ranking, gains in zip(rankings, gains_list):
        relevant = set(gains)
        if not relevant:
            continue
        hits = sum(1 for item in ranking[:k] if item in relevant)
        precisions.append(hits / k)
        recalls.append(hits / len(relevant))
        maps.append(apk(ranking, relevant, k))
        # Full ranking of the catalogue, scored by position, as one sklearn query.
        y_true = np.array([[gains.get(item, 0.0) for item in ranking]])
        y_score = np.array([[catalogue - position for position in range(catalogue)]], dtype=float)
        ndcgs.append(metrics.ndcg_score(y_true, y_score, k=k))
    return {
        "name": name,
        "k": k,
        "rankings": rankings,
        "gains": gains_list,
        "graded": graded,
        "expected": {
            "user_count": len(precisions),
            "skipped_user_count": users - len(precisions),
            "precision_at_k": float(np.mean(precisions)),
            "recall_at_k": float(np.mean(recalls)),
            "ndcg_at_k": float(np.mean(ndcgs)),
            "map_at_k": float(np.mean(maps)),
        },
    }


def ndcg_query_case(name, gains, scores, k):
    gains = np.asarray(gains, dtype=float)
    scores = np.asarray(scores, dtype=float)
    value = None if gains.sum() == 0 else metrics.ndcg_score([gains], [scores], k=k)
    return {"name": name, "gains": gains.tolist(), "scores": scores.tolist(), "k": k, "expected": f(value)}


def ranking_cases(rng):
    cases = {
        "reports": [
            ranking_case("binary_k5", rng, users=40, catalogue=25, k=5, graded=False),
            ranking_case("binary_k10", rng, users=30, catalogue=30, k=10, graded=False),
            ranking_case("binary_k1", rng, users=30, catalogue=12, k=1, graded=False),
            ranking_case("graded_k10", rng, users=30, catalogue=20, k=10, graded=True),
            ranking_case("graded_k_exceeds_catalogue", rng, users=15, catalogue=8, k=12, graded=True),
        ],
        "queries": [],
    }
    for i, (n, k) in enumerate([(30, 10), (20, 5), (15, None), (40, 3)]):
        gains = rng.integers(0, 4, size=n).astype(float)
        scores = np.round(rng.random(n), 1)  # heavy ties
        cases["queries"].append(ndcg_query_case(f"tied_scores_{i}", gains, scores, k))
    gains = rng.integers(0, 3, size=25).astype(float)
    cases["queries"].append(ndcg_query_case("distinct_scores", gains, rng.random(25), 10))
    cases["queries"].append(ndcg_query_case("all_tied", gains, np.full(25, 0.5), 5))
    cases["queries"].append(ndcg_query_case("no_gain", np.zeros(10), rng.random(10), 5))
    return cases


def write(name, payload):
    payload = {"generated_by": "scripts/metric_fixtures.py", "versions": VERSIONS, **payload}
    (OUT / name).write_text(json.dumps(payload, indent=1, allow_nan=False) + "\n")


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(20240611)
    write("binary.json", {"cases": binary_cases(rng)})
    write("multiclass.json", {"cases": multiclass_cases(rng)})
    write("regression.json", {"cases": regression_cases(rng)})
    write("ranking.json", ranking_cases(rng))


if __name__ == "__main__":
    main()
