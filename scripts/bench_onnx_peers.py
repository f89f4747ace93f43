#!/usr/bin/env python3
"""Slipway's ONNX runtime against ONNX Runtime, on the same .onnx files and rows, in one run.

usage (from the repository root, after building Benchmarks/, see Benchmarks/README.md):
    VENV/bin/python scripts/bench_onnx_peers.py [--work DIR] [--rounds N] [--quick] [--bench PATH]

Needs numpy, scikit-learn, skl2onnx, onnxmltools, xgboost, lightgbm and onnxruntime. Developers run it by
hand; CI does not. The timing helpers are shared with scripts/bench_runtime_peers.py.

What it does
  1. Trains models on the peers' data (make_classification, 20 features, seed 42) and exports them to ONNX:
     logistic regression, linear regression and a random forest (100 trees, depth 8) with skl2onnx
     (zipmap off), an MLP (64-32, relu) with skl2onnx, and the 100-tree XGBoost and LightGBM models of
     bench_runtime_peers.py with onnxmltools.
  2. Writes 1000 timed rows to --work/rows.f32 (and 1000 rows with 10% NaN for the accuracy check).
  3. Per round: ONNX Runtime in this process (1 thread, sequential; plain session.run and pre-bound
     io_binding), then Benchmarks' slipway-bench on the same files and rows.
  4. Prints medians, p99s and ratios Slipway/ONNX Runtime (< 1: Slipway faster), and the max |Slipway -
     ONNX Runtime| of the main output over all 2000 rows.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
from bench_runtime_peers import cpu_jiffies, summarize, time_calls  # noqa: E402
from sklearn.datasets import make_classification  # noqa: E402

ort.set_default_logger_severity(3)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_FEATURES = 20
TIMED_ROWS = 1000


def log(*parts):
    print("#", *parts, flush=True)


def train(work):
    import lightgbm as lgb
    import onnxmltools
    import xgboost as xgb
    from onnxmltools.convert.common.data_types import FloatTensorType as MLFloat
    from skl2onnx import to_onnx
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.neural_network import MLPClassifier

    X, y = make_classification(n_samples=20000, n_features=N_FEATURES, n_informative=10, n_redundant=4,
                               random_state=42)
    X = X.astype(np.float32)
    Xtr, ytr, Xte = X[:16000], y[:16000], X[16000:]
    models = {}
    sk = {
        "logreg": LogisticRegression(max_iter=500).fit(Xtr, ytr),
        "linreg": LinearRegression().fit(Xtr, ytr.astype(np.float32)),
        "forest": RandomForestClassifier(n_estimators=100, max_depth=8, random_state=42, n_jobs=2).fit(Xtr, ytr),
        "mlp": MLPClassifier(hidden_layer_sizes=(64, 32), max_iter=60, random_state=42).fit(Xtr, ytr),
    }
    for name, model in sk.items():
        options = {id(model): {"zipmap": False}} if hasattr(model, "predict_proba") else None
        onx = to_onnx(model, Xtr[:1], options=options, target_opset={"": 17, "ai.onnx.ml": 3})
        models[name] = f"{work}/{name}.onnx"
        open(models[name], "wb").write(onx.SerializeToString())
    xgbc = xgb.XGBClassifier(n_estimators=100, max_depth=6, tree_method="hist", learning_rate=0.1, n_jobs=2,
                             random_state=42).fit(Xtr, ytr)
    lgbc = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, learning_rate=0.1, n_jobs=2, random_state=42,
                              verbose=-1).fit(Xtr, ytr)
    for name, convert, model, kwargs in (("xgb", onnxmltools.convert_xgboost, xgbc, {}),
                                         ("lgbm", onnxmltools.convert_lightgbm, lgbc, {"zipmap": False})):
        onx = convert(model, initial_types=[("input", MLFloat([None, N_FEATURES]))], target_opset=15, **kwargs)
        models[name] = f"{work}/{name}.onnx"
        open(models[name], "wb").write(onx.SerializeToString())
    timed = np.ascontiguousarray(Xte[:TIMED_ROWS])
    missing = Xte[TIMED_ROWS:2 * TIMED_ROWS].copy()
    missing[np.random.default_rng(7).random(missing.shape) < 0.1] = np.nan
    rows = np.ascontiguousarray(np.vstack([timed, missing]), dtype="<f4")
    rows.tofile(f"{work}/rows.f32")
    return models, rows


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def main_output(sess):
    """The output Slipway's predictor treats as the main one: probabilities, else the first float output."""
    outputs = sess.get_outputs()
    for output in outputs:
        if "prob" in output.name.lower() and output.type == "tensor(float)":
            return output.name
    return next((o.name for o in outputs if o.type in ("tensor(float)", "tensor(double)")), outputs[0].name)


def peer_cases(models, rows):
    timed = rows[:TIMED_ROWS]
    singles = [np.ascontiguousarray(timed[i:i + 1]) for i in range(TIMED_ROWS)]
    cases = []
    for name, path in models.items():
        sess = session(path)
        input_name = sess.get_inputs()[0].name
        output = main_output(sess)
        cases.append((name, "onnxruntime", lambda a, s=sess, i=input_name, o=output: s.run([o], {i: a}),
                      singles, [timed]))

        def bound(arrays, s=sess, i=input_name, o=output):
            bindings = []
            for array in arrays:
                binding = s.io_binding()
                binding.bind_ortvalue_input(i, ort.OrtValue.ortvalue_from_numpy(array))
                binding.bind_output(o)  # ONNX Runtime allocates the output; no numpy conversion per call
                bindings.append(binding)
            return bindings
        try:
            single_bindings, batch_bindings = bound(singles), bound([timed])
            sess.run_with_iobinding(single_bindings[0])
            cases.append((name, "onnxruntime-iobinding", sess.run_with_iobinding, single_bindings, batch_bindings))
        except Exception as error:  # noqa: BLE001 - the plain session.run figure still stands
            log(f"{name}: io binding unavailable: {error!r}")
    return cases


def measure(cases, quick, round_index, out):
    records = []
    single_n, batch_n = (5000, 30) if quick else (20000, 200)
    for model, impl, fn, singles, batches in cases:
        for label, args, n, warm in (("1row", singles, single_n, 2000), ("1000rows", batches, batch_n, 10)):
            record = summarize(time_calls(fn, args, n, warm))
            record.update(impl=impl, model=model, case=label, round=round_index)
            records.append(record)
            out.write(json.dumps(record) + "\n")
    return records


def run_slipway(bench, models, work, quick, round_index, out):
    command = [bench, "--rows", f"{work}/rows.f32", "--features", str(N_FEATURES), "--batch-rows", str(TIMED_ROWS),
               "--predictions-dir", work, "--single-iterations", "20000" if quick else "200000",
               "--batch-iterations", "30" if quick else "300", *models.values()]
    busy0, _ = cpu_jiffies()
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"slipway-bench failed: {result.stderr.strip()}")
    wall = time.time() - started
    busy1, _ = cpu_jiffies()
    names = {os.path.basename(path): name for name, path in models.items()}
    records = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        if "case" not in record:
            continue
        record["model"] = names[record["model"]]
        record.update(round=round_index, foreign_cores=round(max(0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK")
                                                                      / wall - 1.0), 2))
        records.append(record)
        out.write(json.dumps(record) + "\n")
    return records


def accuracy(models, rows, work):
    diffs = {}
    for name, path in models.items():
        sess = session(path)
        expected = sess.run([main_output(sess)], {sess.get_inputs()[0].name: rows})[0].astype(np.float64).ravel()
        ours = np.fromfile(f"{work}/{os.path.basename(path)}.pred.f32", dtype="<f4").astype(np.float64)
        if ours.shape != expected.shape:
            diffs[name] = float("inf")
            log(f"{name}: Slipway wrote {ours.shape[0]} values, onnxruntime {expected.shape[0]}")
            continue
        both_nan = np.isnan(ours) & np.isnan(expected)
        if np.any(np.isnan(ours) != np.isnan(expected)):
            diffs[name] = float("inf")
            log(f"{name}: NaN in one output but not the other")
            continue
        keep = ~both_nan  # a missing value may give NaN in both (linear models and MLPs do)
        diffs[name] = float(np.max(np.abs(ours[keep] - expected[keep]) / np.maximum(np.abs(expected[keep]), 1.0)))
    return diffs


def best(records, impl, model, case):
    matches = [r for r in records if r["impl"] == impl and r["model"] == model and r["case"] == case]
    return min(matches, key=lambda r: r["median_us"]) if matches else None


def report(records, models, diffs):
    print()
    print("Latency per call, µs: median (best round) / p99; 1 thread. ratio = Slipway / peer (< 1: Slipway faster)")
    header = f"{'model':7} {'impl':22} {'1 row':>8} {'p99':>8} {'1000 rows':>10} {'p99':>9} {'ratio 1r':>9} {'ratio 1000':>10}"
    print(header)
    print("-" * len(header))
    for model in models:
        ours = best(records, "slipway", model, "1row"), best(records, "slipway", model, "1000rows")
        for impl in ("slipway", "onnxruntime", "onnxruntime-iobinding"):
            single, batch = best(records, impl, model, "1row"), best(records, impl, model, "1000rows")
            if not single:
                continue

            def ratio(a, b):
                return f"{a['median_us'] / b['median_us']:.3f}" if a and b and impl != "slipway" else "-"
            print(f"{model:7} {impl:22} {single['median_us']:8.2f} {single['p99_us']:8.2f} "
                  f"{batch['median_us'] if batch else 0:10.2f} {batch['p99_us'] if batch else 0:9.2f} "
                  f"{ratio(ours[0], single):>9} {ratio(ours[1], batch):>10}")
    print()
    print("max |Slipway - onnxruntime| / max(|onnxruntime|, 1), 2000 rows (1000 with 10% NaN):",
          ", ".join(f"{k} {v:.1e}" for k, v in diffs.items()))
    return all(v <= 1e-5 for v in diffs.values())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.environ.get("SLIPWAY_BENCH_WORK", "/tmp/slipway-bench-onnx"))
    parser.add_argument("--bench", default=f"{REPO}/Benchmarks/.build-release/release/slipway-bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"{args.bench} not found: swift build -c release --package-path Benchmarks "
                 "--scratch-path Benchmarks/.build-release")
    os.makedirs(args.work, exist_ok=True)
    log("training and exporting models in", args.work)
    models, rows = train(args.work)
    cases = peer_cases(models, rows)
    records = []
    with open(f"{args.work}/results.jsonl", "a") as out:
        out.write(json.dumps({"run": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.machine(),
                              "onnxruntime": ort.__version__}) + "\n")
        for round_index in range(args.rounds):
            log(f"round {round_index + 1}/{args.rounds}: onnxruntime")
            records += measure(cases, args.quick, round_index, out)
            log(f"round {round_index + 1}/{args.rounds}: slipway-bench")
            records += run_slipway(args.bench, models, args.work, args.quick, round_index, out)
        diffs = accuracy(models, rows, args.work)
        out.write(json.dumps({"accuracy": diffs}) + "\n")
    sys.exit(0 if report(records, models, diffs) else 1)


if __name__ == "__main__":
    main()
