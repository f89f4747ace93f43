#!/usr/bin/env python3
"""Slipway's native tree runtimes against XGBoost, LightGBM and ONNX Runtime, on one machine in one run.

usage (from the repository root, after building Benchmarks/, see Benchmarks/README.md):
    VENV/bin/python scripts/bench_runtime_peers.py [--work DIR] [--rounds N] [--quick] [--bench PATH]

Needs numpy, scikit-learn, xgboost, lightgbm; onnxruntime + onnxmltools for the ONNX peer (skipped when
missing). Developers run it by hand; CI does not.

What it does
  1. Trains the peers' serving models (shared/peers/scripts/train_models.py: make_classification, 20 features,
     seed 42): a 100-tree XGBoost binary:logistic (max_depth 6) and a 100-tree LightGBM binary (num_leaves 31),
     saved as XGBoost JSON and LightGBM text under --work; converts both to ONNX with onnxmltools (opset 15).
  2. Writes the rows both sides use to --work/rows.f32 (raw little-endian float32): 1000 test rows (timed),
     then 1000 more with 10% of values missing (NaN), for the accuracy check only.
  3. Per round: times each peer in this process with 1 thread (XGBoost nthread=1, LightGBM num_threads=1, ONNX
     Runtime intra/inter-op 1), then runs Benchmarks' slipway-bench as a subprocess on the same rows.
     Every call is timed on its own (perf_counter_ns), after warm-up, with inputs prepared beforehand.
     Single-row calls cycle through the 1000 timed rows on every side.
  4. Prints a table of medians (best round) and p99s, ratios Slipway/peer (< 1 means Slipway is faster), and
     the max |Slipway - library| over all 2000 rows. Raw records go to --work/results.jsonl.

Python peers pay their binding's per-call overhead (argument conversion, output allocation); the 'python floor'
line shows what an empty Python call costs in this harness, and 'onnxruntime-iobinding' pre-binds input and
output OrtValues, which is as close to ONNX Runtime's C++ cost as an in-process Python harness gets.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # no spinning OpenMP workers next to single-thread timings

import numpy as np
import lightgbm as lgb
import xgboost as xgb
from sklearn.datasets import make_classification

try:
    import onnxruntime as ort
    import onnxmltools
    from onnxmltools.convert.common.data_types import FloatTensorType

    ort.set_default_logger_severity(3)
except ImportError as error:  # the ONNX peer is optional
    ort = None
    print(f"# onnxruntime/onnxmltools not available ({error}); ONNX Runtime is skipped", flush=True)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_FEATURES = 20
TIMED_ROWS = 1000


def log(*parts):
    print("#", *parts, flush=True)


def cpu_jiffies():
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    values = list(map(int, open("/proc/stat").readline().split()[1:9]))
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def train(work):
    """Trains and saves the two models (and their ONNX exports); returns the paths and the rows file."""
    X, y = make_classification(n_samples=20000, n_features=N_FEATURES, n_informative=10, n_redundant=4,
                               random_state=42)
    X = X.astype(np.float32)
    Xtr, ytr, Xte = X[:16000], y[:16000], X[16000:]

    xgbc = xgb.XGBClassifier(n_estimators=100, max_depth=6, tree_method="hist", learning_rate=0.1, n_jobs=2,
                             random_state=42)
    xgbc.fit(Xtr, ytr)
    lgbc = lgb.LGBMClassifier(n_estimators=100, num_leaves=31, learning_rate=0.1, n_jobs=2, random_state=42,
                              verbose=-1)
    lgbc.fit(Xtr, ytr)
    paths = {"xgb": f"{work}/xgb.json", "lgbm": f"{work}/lgbm.txt"}
    xgbc.get_booster().save_model(paths["xgb"])
    lgbc.booster_.save_model(paths["lgbm"])

    if ort is not None:
        for name, convert, kwargs in (("xgb", onnxmltools.convert_xgboost, {}),
                                      ("lgbm", onnxmltools.convert_lightgbm, {"zipmap": False})):
            model = xgbc if name == "xgb" else lgbc
            try:
                onx = convert(model, initial_types=[("input", FloatTensorType([None, N_FEATURES]))],
                              target_opset=15, **kwargs)
                paths[f"{name}_onnx"] = f"{work}/{name}.onnx"
                open(paths[f"{name}_onnx"], "wb").write(onx.SerializeToString())
            except Exception as error:  # noqa: BLE001 - report and go on without that peer
                log(f"{name} -> ONNX failed: {error!r}")

    timed = np.ascontiguousarray(Xte[:TIMED_ROWS])
    missing = Xte[TIMED_ROWS:2 * TIMED_ROWS].copy()
    missing[np.random.default_rng(7).random(missing.shape) < 0.1] = np.nan
    rows = np.ascontiguousarray(np.vstack([timed, missing]), dtype="<f4")
    rows.tofile(f"{work}/rows.f32")
    return paths, rows


def time_calls(fn, args, iterations, warmup):
    """Per-call wall times in ns; `args` is a list of prepared arguments, used in turn."""
    count = len(args)
    for index in range(warmup):
        fn(args[index % count])
    samples = [0] * iterations
    clock = time.perf_counter_ns
    for index in range(iterations):
        arg = args[index % count]
        start = clock()
        fn(arg)
        samples[index] = clock() - start
    return samples


def summarize(samples):
    ordered = sorted(samples)
    n = len(ordered)
    return {"median_us": ordered[n // 2] / 1e3, "p99_us": ordered[min(n - 1, int(0.99 * n))] / 1e3,
            "mean_us": sum(ordered) / n / 1e3, "min_us": ordered[0] / 1e3, "iterations": n}


def peer_cases(paths, rows):
    """(model, impl, single-row function, batch function, argument makers) for every peer available."""
    timed = rows[:TIMED_ROWS]
    singles = [np.ascontiguousarray(timed[i:i + 1]) for i in range(TIMED_ROWS)]
    cases = []

    booster = xgb.Booster(model_file=paths["xgb"])
    booster.set_param({"nthread": 1})
    cases.append(("xgb", "xgboost-inplace", booster.inplace_predict, singles, [timed]))
    cases.append(("xgb", "xgboost-dmatrix", lambda a: booster.predict(xgb.DMatrix(a, nthread=1)), singles, [timed]))

    lgbm = lgb.Booster(model_file=paths["lgbm"])
    cases.append(("lgbm", "lightgbm", lambda a: lgbm.predict(a, num_threads=1), singles, [timed]))

    if ort is not None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        for model in ("xgb", "lgbm"):
            if f"{model}_onnx" not in paths:
                continue
            session = ort.InferenceSession(paths[f"{model}_onnx"], options, providers=["CPUExecutionProvider"])
            probabilities = [o.name for o in session.get_outputs() if o.name.startswith("prob")] or \
                [session.get_outputs()[-1].name]
            cases.append((model, "onnxruntime",
                          lambda a, s=session, o=probabilities: s.run(o, {"input": a}), singles, [timed]))
            # Pre-bound OrtValues: no numpy conversion or output allocation per call.
            try:
                def bound(arrays, s=session, o=probabilities[0]):
                    bindings = []
                    for array in arrays:
                        binding = s.io_binding()
                        binding.bind_ortvalue_input("input", ort.OrtValue.ortvalue_from_numpy(array))
                        binding.bind_ortvalue_output(
                            o, ort.OrtValue.ortvalue_from_numpy(np.zeros((len(array), 2), np.float32)))
                        bindings.append(binding)
                    return bindings
                single_bindings, batch_bindings = bound(singles), bound([timed])
                session.run_with_iobinding(single_bindings[0])
                cases.append((model, "onnxruntime-iobinding", session.run_with_iobinding, single_bindings,
                              batch_bindings))
            except Exception as error:  # noqa: BLE001 - the plain session.run figure still stands
                log(f"{model}: onnxruntime io binding unavailable: {error!r}")
    cases.append(("-", "python-floor", lambda a: None, singles, [timed]))
    return cases


def measure_peers(cases, quick, round_index, out):
    records = []
    single_n, batch_n = (5000, 30) if quick else (20000, 200)
    hz = os.sysconf("SC_CLK_TCK")
    busy0, _ = cpu_jiffies()
    own0, wall0 = os.times(), time.perf_counter()
    for model, impl, fn, singles, batches in cases:
        for label, args, n, warm in (("1row", singles, single_n, 2000), ("1000rows", batches, batch_n, 10)):
            record = summarize(time_calls(fn, args, n, warm))
            record.update(impl=impl, model=model, case=label, round=round_index)
            records.append(record)
    # /proc/stat counts in 10 ms ticks, so other processes' load is measured over the whole round.
    busy1, _ = cpu_jiffies()
    own1, wall = os.times(), time.perf_counter() - wall0
    own = (own1.user - own0.user) + (own1.system - own0.system)
    foreign = max(0.0, (busy1 - busy0) / hz - own) / wall
    for record in records:
        record["foreign_cores"] = round(foreign, 2)
        out.write(json.dumps(record) + "\n")
    return records


def run_slipway(bench, paths, work, quick, round_index, out):
    command = [bench, "--rows", f"{work}/rows.f32", "--features", str(N_FEATURES), "--batch-rows", str(TIMED_ROWS),
               "--predictions-dir", work, "--single-iterations", "20000" if quick else "200000",
               "--batch-iterations", "30" if quick else "300", paths["xgb"], paths["lgbm"]]
    busy0, _ = cpu_jiffies()
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    busy1, _ = cpu_jiffies()
    wall = time.time() - started
    records = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        if "case" not in record:
            continue
        record["model"] = "xgb" if record["model"].startswith("xgb") else "lgbm"
        record.update(round=round_index)
        records.append(record)
        out.write(json.dumps(record) + "\n")
    # The subprocess is busy on one core; anything above that is other processes.
    foreign = max(0.0, (busy1 - busy0) / os.sysconf("SC_CLK_TCK") / wall - 1.0)
    for record in records:
        record["foreign_cores"] = round(foreign, 2)
    return records


def accuracy(paths, rows, work):
    """Max |Slipway - library| per model over all rows (the timed ones and the ones with NaNs)."""
    booster = xgb.Booster(model_file=paths["xgb"])
    booster.set_param({"nthread": 1})
    reference = {"xgb": booster.inplace_predict(rows),
                 "lgbm": lgb.Booster(model_file=paths["lgbm"]).predict(rows, num_threads=1)}
    result = {}
    for model, path in (("xgb", paths["xgb"]), ("lgbm", paths["lgbm"])):
        slipway = np.fromfile(f"{work}/{os.path.basename(path)}.pred.f32", dtype="<f4")
        result[model] = float(np.abs(slipway.astype(np.float64) - reference[model]).max())
        onnx_path = paths.get(f"{model}_onnx")
        if ort is not None and onnx_path:
            session = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
            outputs = session.run(None, {"input": rows})
            probabilities = [o for o in outputs if getattr(o, "ndim", 0) == 2][0][:, 1]
            result[f"{model}_onnx_vs_library"] = float(np.abs(probabilities - reference[model]).max())
    return result


def best(records, impl, model, case):
    matches = [r for r in records if r["impl"] == impl and r["model"] == model and r["case"] == case]
    return min(matches, key=lambda r: r["median_us"]) if matches else None


def report(records, diffs):
    print()
    print("Latency per call, µs: median of per-call times (best round) / p99 (that round); 1 thread everywhere.")
    print("ratio = Slipway median / peer median (< 1: Slipway faster)")
    header = f"{'model':5} {'impl':24} {'1 row':>8} {'p99':>8} {'1000 rows':>10} {'p99':>9} {'ratio 1r':>9} {'ratio 1000':>10}"
    print(header)
    print("-" * len(header))
    impls = ["slipway", "slipway-1row-fixed", "xgboost-inplace", "xgboost-dmatrix", "lightgbm", "onnxruntime",
             "onnxruntime-iobinding"]
    for model in ("xgb", "lgbm"):
        ours_single, ours_batch = best(records, "slipway", model, "1row"), best(records, "slipway", model, "1000rows")
        for impl in impls:
            if impl == "slipway-1row-fixed":
                single, batch = best(records, "slipway", model, "1row_fixed"), None
            else:
                single, batch = best(records, impl, model, "1row"), best(records, impl, model, "1000rows")
            if single is None and batch is None:
                continue

            def cell(r, key, width):
                return f"{r[key]:>{width}.2f}" if r else " " * (width - 1) + "-"

            def ratio(ours, peer):
                return f"{ours['median_us'] / peer['median_us']:>9.3f}" if ours and peer and not impl.startswith(
                    "slipway") else " " * 8 + "-"
            print(f"{model:5} {impl:24} {cell(single, 'median_us', 8)} {cell(single, 'p99_us', 8)} "
                  f"{cell(batch, 'median_us', 10)} {cell(batch, 'p99_us', 9)} {ratio(ours_single, single)} "
                  f"{ratio(ours_batch, batch):>10}")
    floor = best(records, "python-floor", "-", "1row")
    if floor:
        print(f"python floor (empty call in this harness): {floor['median_us']:.2f} µs")
    worst = max((r.get("foreign_cores", 0) for r in records), default=0)
    print(f"other processes' CPU during measurements: up to {worst:.2f} cores (of {os.cpu_count()})")
    print()
    print("accuracy, max |Slipway - library| over 2000 rows (1000 with 10% NaN):",
          ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()))
    ok = all(v <= 1e-5 for k, v in diffs.items() if "onnx" not in k)
    print("within 1e-5:", "yes" if ok else "NO")
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", default=os.environ.get("SLIPWAY_BENCH_WORK", "/tmp/slipway-bench"))
    parser.add_argument("--bench", default=f"{REPO}/Benchmarks/.build-release/release/slipway-bench")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer iterations, one round")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    if not os.access(args.bench, os.X_OK):
        sys.exit(f"{args.bench} not found: swift build -c release --package-path Benchmarks "
                 "--scratch-path Benchmarks/.build-release")
    os.makedirs(args.work, exist_ok=True)

    log("training models in", args.work)
    paths, rows = train(args.work)
    cases = peer_cases(paths, rows)
    records = []
    with open(f"{args.work}/results.jsonl", "a") as out:
        out.write(json.dumps({"run": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": platform.machine(),
                              "cpus": os.cpu_count(), "python": platform.python_version(),
                              "xgboost": xgb.__version__, "lightgbm": lgb.__version__,
                              "onnxruntime": ort.__version__ if ort else None}) + "\n")
        for round_index in range(args.rounds):
            log(f"round {round_index + 1}/{args.rounds}: peers")
            records += measure_peers(cases, args.quick, round_index, out)
            log(f"round {round_index + 1}/{args.rounds}: slipway-bench")
            records += run_slipway(args.bench, paths, args.work, args.quick, round_index, out)
        diffs = accuracy(paths, rows, args.work)
        out.write(json.dumps({"accuracy": diffs}) + "\n")
    log(f"versions: xgboost {xgb.__version__}, lightgbm {lgb.__version__}, "
        f"onnxruntime {ort.__version__ if ort else '-'}, python {platform.python_version()}")
    sys.exit(0 if report(records, diffs) else 1)


if __name__ == "__main__":
    main()
