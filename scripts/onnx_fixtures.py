"""Writes the ONNX test fixtures for SlipwayRuntime's native ONNX runtime: small scikit-learn, XGBoost and
LightGBM models exported to ONNX, plus onnxruntime's outputs and the original library's own predictions.

Run by developers (not CI); the outputs are committed under Tests/SlipwayRuntimeTests/Fixtures/onnx/.
From the repository root:

    /tmp/venv/bin/python scripts/onnx_fixtures.py

Needs `pip install numpy scikit-learn xgboost lightgbm onnx onnxruntime skl2onnx onnxmltools`. Everything is
seeded (and single-threaded), so a re-run with the same library versions rewrites identical files.

For each model NAME the script writes NAME.onnx and NAME.expected.json:

    {"library": "scikit-learn 1.9.1 / skl2onnx 1.20.0 / onnxruntime 1.32.0", "model": "NAME.onnx",
     "ops": ["ai.onnx.ml:TreeEnsembleClassifier", "ai.onnx:Cast", ...],   # sorted distinct domain:op_type
     "inputs": {"float_input": {"datatype": "FP32", "shape": [20, 8], "data": [... null for NaN ...]}},
     "outputs": {"label": {"datatype": "INT64", "shape": [20], "data": [...]},
                 "probabilities": {"datatype": "FP32", "shape": [20, 3], "data": [...]}},
     "zipmap": {"output_probability": [{"0": 0.25, "1": 0.75}, ...]},     # only for sequence-of-map outputs
     "reference": {"output": "probabilities", "data": [...]}}

"outputs" are onnxruntime's results for NAME.onnx on the inputs (tensors flattened row-major; datatypes use
the Open Inference Protocol v2 names BOOL, INT32, INT64, FP32, FP64, BYTES); an output that is a sequence of
maps (ZipMap) appears under "zipmap" instead, one {class label: probability} object per row, keys in class
order. "reference" is the original library's own prediction (predict_proba for classifiers, predict for
regressors) flattened row-major, to be compared with output "reference.output". Floats are the exact
float32 values, written as the shortest decimal that round-trips the float64 they widen to.

The input rows are random, except that the tree models (and the imputer pipeline) also get rows that are
all NaN, partly NaN and all zero, so the missing-value directions are exercised. scikit-learn's
GradientBoosting* estimators reject NaN, so their fixtures have no NaN rows. skl2onnx 1.20 drops the
random forests' learned missing-value directions (every nodes_missing_value_tracks_true is 0), so the script
copies scikit-learn's tree_.missing_go_to_left into the converted graphs; without that, NaN rows disagree
with scikit-learn.

Two fixtures use the ai.onnx.ml opset-5 `TreeEnsemble` operator. No converter emits it (skl2onnx and
onnxmltools only write TreeEnsembleRegressor/Classifier), so the script rewrites the converted
random_forest_regressor graph into a TreeEnsemble with the AVERAGE aggregate, and the
gradient_boosting_classifier graph into TreeEnsemble (SUM, 3 targets) -> Add (base values) -> Softmax, by hand; their outputs are onnxruntime's, and their
reference is still scikit-learn's.
"""
import json
import math
import pathlib
import warnings

import lightgbm as lgb
import numpy as np
import onnx
import onnxmltools
import onnxruntime as ort
import skl2onnx
import sklearn
import xgboost as xgb
from onnx import helper, numpy_helper
from onnxmltools.convert.common.data_types import FloatTensorType as MLFloatTensorType
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.ensemble import (GradientBoostingClassifier, GradientBoostingRegressor, RandomForestClassifier,
                              RandomForestRegressor)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import Binarizer, Normalizer, StandardScaler

OUT = pathlib.Path(__file__).resolve().parent.parent / "Tests" / "SlipwayRuntimeTests" / "Fixtures" / "onnx"
FEATURES = 8
TRAIN_ROWS = 600
TEST_ROWS = 20
SKL_OPSET = {"": 17, "ai.onnx.ml": 3}
ONNXMLTOOLS_OPSET = 15  # the highest onnxmltools 1.16 supports
TOLERANCE = 1e-5

SKL_LIBRARY = f"scikit-learn {sklearn.__version__} / skl2onnx {skl2onnx.__version__} / onnxruntime {ort.__version__}"
XGB_LIBRARY = f"xgboost {xgb.__version__} / onnxmltools {onnxmltools.__version__} / onnxruntime {ort.__version__}"
LGB_LIBRARY = f"lightgbm {lgb.__version__} / onnxmltools {onnxmltools.__version__} / onnxruntime {ort.__version__}"

DATATYPES = {np.dtype(np.float32): "FP32", np.dtype(np.float64): "FP64", np.dtype(np.int64): "INT64",
             np.dtype(np.int32): "INT32", np.dtype(np.bool_): "BOOL"}

summary = []


# --- data ---------------------------------------------------------------------------------------------------

def training_data(seed, classes=None, missing=False):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(TRAIN_ROWS, FEATURES)).astype(np.float32)
    score = 0.8 * x[:, 1] - 0.6 * x[:, 2] + 0.4 * x[:, 3] * x[:, 4] + 0.3 * x[:, 5] + rng.normal(scale=0.3, size=TRAIN_ROWS)
    if missing:  # some missing values, so the trees learn default directions
        x[rng.random(size=x.shape) < 0.08] = np.nan
    if classes is None:
        return x, score.astype(np.float32)
    if classes == 2:
        return x, (score > 0).astype(np.int64)
    cuts = np.quantile(score, [0.5, 0.8])  # unbalanced classes: 50/30/20%
    return x, np.digitize(score, cuts).astype(np.int64)


def test_rows(seed, missing=False):
    rng = np.random.default_rng(seed + 1000)
    x = rng.normal(size=(TEST_ROWS, FEATURES)).astype(np.float32)
    x[5] *= 3.0  # some values far out in the tails
    if missing:
        x[0, :] = np.nan
        x[1, :] = 0.0
        x[2, ::2] = np.nan
        x[3, 1::2] = np.nan
        x[4, 1:4] = np.nan
        x[6, 1] = np.nan
        x[7, 2] = np.nan
    return x


# --- conversion ---------------------------------------------------------------------------------------------

def from_sklearn(model, zipmap=None):
    """zipmap: None for a regressor, else whether a classifier keeps skl2onnx's default ZipMap output."""
    options = None if zipmap in (None, True) else {id(model): {"zipmap": False}}
    return convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, FEATURES]))],
                           target_opset=SKL_OPSET, options=options)


def restore_missing_directions(onx, forest):
    """skl2onnx 1.20 writes nodes_missing_value_tracks_true = 0 for every node of a RandomForest, ignoring
    scikit-learn's (>= 1.4) learned missing-value directions, so NaN inputs would take the false (right)
    branch where scikit-learn may go left. Copies tree_.missing_go_to_left into the converted graph (the
    true branch is scikit-learn's left child, x <= threshold)."""
    node = next(n for n in onx.graph.node if n.op_type.startswith("TreeEnsemble"))
    a = attrs_of(node)
    tracks = [int(forest.estimators_[tree].tree_.missing_go_to_left[nid]) if mode != b"LEAF" else 0
              for tree, nid, mode in zip(a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"])]
    for t, nid, mode, true_id in zip(a["nodes_treeids"], a["nodes_nodeids"], a["nodes_modes"], a["nodes_truenodeids"]):
        if mode != b"LEAF":
            assert mode == b"BRANCH_LEQ" and true_id == forest.estimators_[t].tree_.children_left[nid]
    for attr in node.attribute:
        if attr.name == "nodes_missing_value_tracks_true":
            del attr.ints[:]
            attr.ints.extend(tracks)
    return onx


def onnxmltools_types():
    return [("input", MLFloatTensorType([None, FEATURES]))]


def ops_of(model):
    return sorted({f"{n.domain or 'ai.onnx'}:{n.op_type}" for n in model.graph.node})


# --- TreeEnsemble (ai.onnx.ml opset 5) ---------------------------------------------------------------------

MODES = {"BRANCH_LEQ": 0, "BRANCH_LT": 1, "BRANCH_GTE": 2, "BRANCH_GT": 3, "BRANCH_EQ": 4, "BRANCH_NEQ": 5}
AGGREGATES = {"AVERAGE": 0, "SUM": 1, "MIN": 2, "MAX": 3}


def attrs_of(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def tree_ensemble_v5(v3, prefix):
    """The attributes of an ai.onnx.ml-5 TreeEnsemble equivalent to a TreeEnsembleRegressor ("target") or
    TreeEnsembleClassifier ("class") node, leaving out its base values and post transform."""
    a = attrs_of(v3)
    assert "nodes_values_as_tensor" not in a and "target_weights_as_tensor" not in a
    nodes = {}  # (tree, node id) -> index into the v3 nodes_* lists
    for i, key in enumerate(zip(a["nodes_treeids"], a["nodes_nodeids"])):
        nodes[key] = i
    leaf_value = {}
    for tree, node, target, weight in zip(a[f"{prefix}_treeids"], a[f"{prefix}_nodeids"], a[f"{prefix}_ids"],
                                          a[f"{prefix}_weights"]):
        assert (tree, node) not in leaf_value, "TreeEnsemble leaves hold a single target"
        leaf_value[(tree, node)] = (target, weight)
    is_leaf = {key: a["nodes_modes"][i] == b"LEAF" for key, i in nodes.items()}
    interior = [key for key in sorted(nodes) if not is_leaf[key]]
    leaves = [key for key in sorted(nodes) if is_leaf[key]]
    interior_pos = {key: p for p, key in enumerate(interior)}
    leaf_pos = {key: p for p, key in enumerate(leaves)}

    out = {k: [] for k in ("featureids", "splits", "modes", "truenodeids", "trueleafs", "falsenodeids",
                           "falseleafs", "missing")}

    def add_node(feature, split, mode, true_key, false_key, missing):
        out["featureids"].append(feature)
        out["splits"].append(split)
        out["modes"].append(mode)
        for side, key in (("true", true_key), ("false", false_key)):
            out[f"{side}leafs"].append(1 if is_leaf[key] else 0)
            out[f"{side}nodeids"].append(leaf_pos[key] if is_leaf[key] else interior_pos[key])
        out["missing"].append(missing)

    for key in interior:
        i = nodes[key]
        tree = key[0]
        add_node(a["nodes_featureids"][i], a["nodes_values"][i], MODES[a["nodes_modes"][i].decode()],
                 (tree, a["nodes_truenodeids"][i]), (tree, a["nodes_falsenodeids"][i]),
                 a.get("nodes_missing_value_tracks_true", [0] * len(nodes))[i])
    roots = []
    for tree in sorted({t for t, _ in nodes}):
        root = (tree, 0)
        if is_leaf[root]:  # a one-leaf tree: a branch whose both sides are that leaf
            roots.append(len(out["featureids"]))
            add_node(0, 0.0, 0, root, root, 0)
        else:
            roots.append(interior_pos[root])
    return {
        "tree_roots": roots,
        "nodes_featureids": out["featureids"],
        "nodes_splits": numpy_helper.from_array(np.array(out["splits"], dtype=np.float32), "nodes_splits"),
        "nodes_modes": numpy_helper.from_array(np.array(out["modes"], dtype=np.uint8), "nodes_modes"),
        "nodes_truenodeids": out["truenodeids"],
        "nodes_trueleafs": out["trueleafs"],
        "nodes_falsenodeids": out["falsenodeids"],
        "nodes_falseleafs": out["falseleafs"],
        "nodes_missing_value_tracks_true": out["missing"],
        "leaf_targetids": [leaf_value[key][0] for key in leaves],
        "leaf_weights": numpy_helper.from_array(
            np.array([leaf_value[key][1] for key in leaves], dtype=np.float32), "leaf_weights"),
        "aggregate_function": AGGREGATES[a.get("aggregate_function", b"SUM").decode()],
    }


def tree_ensemble_v5_model(v3_model, name, classifier, average=False):
    """Rewrites the single TreeEnsembleRegressor/Classifier of `v3_model` as TreeEnsemble [-> Add(base values)]
    [-> Softmax], with outputs "variable" [N, 1] (regressor) or "probabilities" [N, C] (classifier).
    average: the v3 node sums leaf weights already divided by the number of trees (skl2onnx's random
    forest); use the AVERAGE aggregate on the undivided weights instead."""
    v3 = next(n for n in v3_model.graph.node if n.op_type.startswith("TreeEnsemble"))
    a = attrs_of(v3)
    trees = len(set(a["nodes_treeids"]))
    prefix = "class" if classifier else "target"
    n_targets = len(a.get("classlabels_int64s") or a["classlabels_strings"]) if classifier else a["n_targets"]
    if classifier:
        assert n_targets > 2 and a["post_transform"] == b"SOFTMAX", "only the multi-class softmax layout"
    else:
        assert a.get("post_transform", b"NONE") == b"NONE"
    ensemble = tree_ensemble_v5(v3, prefix)
    if average:
        assert ensemble["aggregate_function"] == AGGREGATES["SUM"]
        weights = numpy_helper.to_array(ensemble["leaf_weights"]) * np.float32(trees)
        ensemble["leaf_weights"] = numpy_helper.from_array(weights.astype(np.float32), "leaf_weights")
        ensemble["aggregate_function"] = AGGREGATES["AVERAGE"]
    output = "probabilities" if classifier else "variable"
    initializers = []
    if "base_values" in a:
        scores, base = "scores", np.array(a["base_values"], dtype=np.float32).reshape(1, n_targets)
        initializers.append(numpy_helper.from_array(base, "base_values"))
    else:
        scores = "raw" if classifier else output
    nodes = [helper.make_node("TreeEnsemble", ["float_input"], [scores], domain="ai.onnx.ml",
                              n_targets=n_targets, post_transform=0, **ensemble)]
    if "base_values" in a:
        nodes.append(helper.make_node("Add", ["scores", "base_values"], ["raw" if classifier else output]))
    if classifier:
        nodes.append(helper.make_node("Softmax", ["raw"], [output], axis=1))
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("float_input", onnx.TensorProto.FLOAT, [None, FEATURES])],
        [helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, [None, n_targets])],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21), helper.make_opsetid("ai.onnx.ml", 5)],
                              producer_name="slipway scripts/onnx_fixtures.py")
    model.ir_version = 10
    onnx.checker.check_model(model, full_check=True)
    return model


# --- writing ------------------------------------------------------------------------------------------------

def cell(v):
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (np.integer, int)):
        return int(v)
    if isinstance(v, (bytes, np.bytes_)):
        return v.decode()
    if isinstance(v, str):
        return v
    v = float(v)
    return None if math.isnan(v) else v


def tensor_json(array):
    array = np.asarray(array)
    datatype = "BYTES" if array.dtype.kind in "OUS" else DATATYPES[array.dtype]
    return {"datatype": datatype, "shape": list(array.shape), "data": [cell(v) for v in array.reshape(-1).tolist()]}


def differences(got, want):
    """(max |got - want| / max(|want|, 1), max |got - want| / |want|): the first is relative for values
    above 1 and absolute below -- the one checked against 1e-5, since float32 probabilities near 0 (e.g. a
    binary classifier's 1 - p) carry absolute, not relative, rounding errors of a few 1e-8."""
    got = np.asarray(got, dtype=np.float64).reshape(-1)
    want = np.asarray(want, dtype=np.float64).reshape(-1)
    assert got.shape == want.shape, (got.shape, want.shape)
    diff = np.abs(got - want)
    return float(np.max(diff / np.maximum(np.abs(want), 1.0))), float(np.max(diff / np.maximum(np.abs(want), 1e-30)))


def write(name, model, library, x, reference_output, reference, labels=None):
    """Saves `model` as NAME.onnx, runs it with onnxruntime, and writes NAME.expected.json."""
    model.graph.name = name  # converters put a random UUID here
    # ...and list the opset imports in set order (it varies with PYTHONHASHSEED): sort them by domain. Kept
    # as converted otherwise -- including skl2onnx's duplicate ai.onnx entry, which real models carry too.
    imports = sorted(model.opset_import, key=lambda o: o.domain)
    imports = [onnx.OperatorSetIdProto(domain=o.domain, version=o.version) for o in imports]
    del model.opset_import[:]
    model.opset_import.extend(imports)
    path = OUT / f"{name}.onnx"
    onnx.save(model, str(path))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (input_meta,) = session.get_inputs()
    results = session.run(None, {input_meta.name: x})
    outputs, zipmaps, by_name = {}, {}, {}
    for meta, result in zip(session.get_outputs(), results):
        if isinstance(result, list):  # ZipMap: a sequence of {class: probability} maps
            zipmaps[meta.name] = [{str(k): cell(v) for k, v in row.items()} for row in result]
            by_name[meta.name] = np.array([list(row.values()) for row in result], dtype=np.float32)
        else:
            outputs[meta.name] = tensor_json(result)
            by_name[meta.name] = result
    doc = {
        "library": library,
        "model": path.name,
        "ops": ops_of(model),
        "inputs": {input_meta.name: tensor_json(x)},
        "outputs": outputs,
    }
    if zipmaps:
        doc["zipmap"] = zipmaps
    reference = np.asarray(reference, dtype=np.float64)
    doc["reference"] = {"output": reference_output, "data": [cell(v) for v in reference.reshape(-1).tolist()]}
    (OUT / f"{name}.expected.json").write_text(json.dumps(doc, separators=(",", ":")) + "\n")

    diff, pure_relative = differences(by_name[reference_output], reference)
    label_note = ""
    if labels is not None:
        label_output = next(k for k in by_name if "label" in k)
        mismatches = int(np.sum(np.asarray(by_name[label_output]).reshape(-1).astype(str) != np.asarray(labels).astype(str)))
        label_note = f", labels differ in {mismatches} rows" if mismatches else ", labels equal"
    flag = "  <-- EXCEEDS 1e-5" if diff > TOLERANCE else ""
    summary.append((name, diff, doc["ops"]))
    print(f"{name:32s} max diff vs library {diff:.3g} (pure relative {pure_relative:.3g}){label_note}{flag}")
    print(f"{'':32s} ops: {', '.join(doc['ops'])}")


# --- fixtures -----------------------------------------------------------------------------------------------

def sklearn_classifier(name, model, seed, classes, zipmap=False, missing=False, class_names=None):
    x, y = training_data(seed, classes, missing)
    if class_names is not None:
        y = np.asarray(class_names)[y]
    model.fit(x, y)
    onx = from_sklearn(model, zipmap=zipmap)
    if missing and hasattr(model, "estimators_"):
        restore_missing_directions(onx, model)
    rows = test_rows(seed, missing)
    probabilities = "output_probability" if zipmap else "probabilities"
    write(name, onx, SKL_LIBRARY, rows, probabilities, model.predict_proba(rows), labels=model.predict(rows))
    return model, onx, rows


def sklearn_regressor(name, model, seed, missing=False):
    x, y = training_data(seed, None, missing)
    model.fit(x, y)
    onx = from_sklearn(model)
    if missing and hasattr(model, "estimators_"):
        restore_missing_directions(onx, model)
    rows = test_rows(seed, missing)
    write(name, onx, SKL_LIBRARY, rows, "variable", model.predict(rows))
    return model, onx, rows


def main():
    warnings.filterwarnings("ignore")  # convergence and converter deprecation chatter
    ort.set_default_logger_severity(3)  # lightgbm_binary declares its label output as [1]: a shape warning per run
    OUT.mkdir(parents=True, exist_ok=True)
    for old in list(OUT.glob("*.onnx")) + list(OUT.glob("*.expected.json")):
        old.unlink()

    # Linear models. logreg_binary keeps skl2onnx's default ZipMap output (a sequence of maps).
    sklearn_classifier("logreg_binary", LogisticRegression(), seed=31, classes=2, zipmap=True)
    sklearn_classifier("logreg_multiclass", LogisticRegression(max_iter=500), seed=32, classes=3)
    sklearn_regressor("linear_regression", LinearRegression(), seed=33)

    # scikit-learn trees.
    sklearn_classifier("random_forest_classifier",
                       RandomForestClassifier(n_estimators=20, max_depth=4, random_state=34, n_jobs=1),
                       seed=34, classes=2, missing=True)
    forest, forest_onnx, forest_rows = sklearn_regressor(
        "random_forest_regressor", RandomForestRegressor(n_estimators=20, max_depth=4, random_state=35, n_jobs=1),
        seed=35, missing=True)
    # String class labels (a BYTES label output) and, like logreg_binary, the default ZipMap output, here
    # keyed by strings.
    boosted, boosted_onnx, boosted_rows = sklearn_classifier(
        "gradient_boosting_classifier",
        GradientBoostingClassifier(n_estimators=10, max_depth=3, learning_rate=0.3, random_state=36),
        seed=36, classes=3, zipmap=True, class_names=["low", "mid", "high"])
    sklearn_regressor("gradient_boosting_regressor",
                      GradientBoostingRegressor(n_estimators=30, max_depth=3, learning_rate=0.2, random_state=37),
                      seed=37)

    # Pipelines.
    sklearn_classifier(
        "pipeline_scaler_logreg",
        Pipeline([("impute", SimpleImputer(strategy="mean")), ("scale", StandardScaler()),
                  ("logreg", LogisticRegression())]),
        seed=38, classes=2, missing=True)
    sklearn_regressor(
        "pipeline_normalizer",
        Pipeline([("features", FeatureUnion([("normalize", Normalizer(norm="l2")),
                                             ("binarize", Binarizer(threshold=0.25))])),
                  ("ridge", Ridge(alpha=0.5))]),
        seed=39)

    # Multi-layer perceptrons.
    sklearn_classifier("mlp_classifier",
                       MLPClassifier(hidden_layer_sizes=(16, 8), activation="relu", max_iter=400, random_state=40),
                       seed=40, classes=3)
    sklearn_regressor("mlp_regressor",
                      MLPRegressor(hidden_layer_sizes=(16, 8), activation="tanh", max_iter=400, random_state=41),
                      seed=41)

    # XGBoost and LightGBM, through onnxmltools.
    for name, classes, seed, params in (
        ("xgboost_binary", 2, 42, {"n_estimators": 20, "max_depth": 4}),
        ("xgboost_multiclass", 3, 43, {"n_estimators": 10, "max_depth": 3}),
    ):
        x, y = training_data(seed, classes, missing=True)
        model = xgb.XGBClassifier(learning_rate=0.3, random_state=seed, n_jobs=1, **params).fit(x, y)
        onx = onnxmltools.convert_xgboost(model, initial_types=onnxmltools_types(), target_opset=ONNXMLTOOLS_OPSET)
        rows = test_rows(seed, missing=True)
        write(name, onx, XGB_LIBRARY, rows, "probabilities", model.predict_proba(rows), labels=model.predict(rows))

    lgb_params = {"n_estimators": 20, "num_leaves": 8, "learning_rate": 0.2, "n_jobs": 1, "verbose": -1,
                  "deterministic": True}
    x, y = training_data(44, 2, missing=True)
    model = lgb.LGBMClassifier(random_state=44, **lgb_params).fit(x, y)
    onx = onnxmltools.convert_lightgbm(model, initial_types=onnxmltools_types(), target_opset=ONNXMLTOOLS_OPSET,
                                       zipmap=False)
    rows = test_rows(44, missing=True)
    write("lightgbm_binary", onx, LGB_LIBRARY, rows, "probabilities", model.predict_proba(rows),
          labels=model.predict(rows))

    x, y = training_data(45, None, missing=True)
    model = lgb.LGBMRegressor(random_state=45, **lgb_params).fit(x, y)
    onx = onnxmltools.convert_lightgbm(model, initial_types=onnxmltools_types(), target_opset=ONNXMLTOOLS_OPSET)
    rows = test_rows(45, missing=True)
    write("lightgbm_regression", onx, LGB_LIBRARY, rows, "variable", model.predict(rows))

    # The ai.onnx.ml opset-5 TreeEnsemble, rewritten by hand from two of the converted models above.
    write("tree_ensemble_v5_regressor", tree_ensemble_v5_model(forest_onnx, "tree_ensemble_v5_regressor", False,
                                                                average=True),
          SKL_LIBRARY, forest_rows, "variable", forest.predict(forest_rows))
    write("tree_ensemble_v5_multiclass",
          tree_ensemble_v5_model(boosted_onnx, "tree_ensemble_v5_multiclass", True),
          SKL_LIBRARY, boosted_rows, "probabilities", boosted.predict_proba(boosted_rows))

    total = sum(p.stat().st_size for p in OUT.iterdir())
    worst = max(summary, key=lambda s: s[1])
    print(f"wrote {len(list(OUT.iterdir()))} files to {OUT} ({total} bytes); "
          f"largest difference vs library {worst[1]:.3g} ({worst[0]})")
    print("all ops:", ", ".join(sorted({op for _, _, ops in summary for op in ops})))


if __name__ == "__main__":
    main()
