"""Times Slipway's logistic regression against scikit-learn's LogisticRegression(solver="lbfgs") on the
gen_data.py files and prints wall time, iterations and holdout AUC side by side, with the time ratio.

usage: python logreg_peer.py DATA_DIR [--bench PATH] [--repeats 3] [--C 1.0] [--max-iter 100]
       [--dtype float64|float32]

Both sides fit the same model: missing values imputed with the training mean, features standardised
(population std), then L2-penalised logistic regression with C = 1/l2, tol 1e-4, at most 100 iterations;
scikit-learn's is SimpleImputer -> StandardScaler -> LogisticRegression. A second scikit-learn row fits
without the scaler (what a user calling LogisticRegression directly gets) for reference. Loading the files
is not timed on either side; imputation, scaling and the fit are. Each time is the median of --repeats.
The Swift side is the release build of slipway-logreg-bench:
    swift build -c release --package-path Benchmarks --scratch-path Benchmarks/.build-release
"""
import argparse, json, os, statistics, subprocess, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_data import read  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BENCH = os.path.join(HERE, "..", ".build-release", "release", "slipway-logreg-bench")


def sklearn_row(name, make_pipeline, x, y, xh, yh, repeats):
    from sklearn.metrics import roc_auc_score

    timings = []
    for _ in range(repeats):
        pipeline = make_pipeline()
        start = time.perf_counter()
        pipeline.fit(x, y)
        timings.append(time.perf_counter() - start)
    model = pipeline.steps[-1][1]
    auc = roc_auc_score(yh, pipeline.predict_proba(xh)[:, 1])
    return dict(model=name, train_wall_s=statistics.median(timings), iterations=int(np.max(model.n_iter_)),
                holdout_auc=float(auc), train_wall_s_all=[round(t, 3) for t in timings])


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--bench", default=DEFAULT_BENCH)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--dtype", choices=["float64", "float32"], default="float64",
                        help="dtype scikit-learn fits in (Slipway always computes in Double)")
    args = parser.parse_args()

    train = os.path.join(args.data_dir, "train.bin")
    holdout = os.path.join(args.data_dir, "holdout.bin")
    swift = subprocess.run(
        [args.bench, train, holdout, "--l2", str(1 / args.C), "--max-iterations", str(args.max_iter),
         "--repeats", str(args.repeats)],
        check=True, capture_output=True, text=True)
    rows = [json.loads(swift.stdout.strip().splitlines()[-1])]

    import sklearn
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = read(train)
    xh, yh = read(holdout)
    x, xh = x.astype(args.dtype), xh.astype(args.dtype)

    def logistic():
        return LogisticRegression(C=args.C, solver="lbfgs", tol=1e-4, max_iter=args.max_iter)

    rows.append(sklearn_row(f"sklearn {sklearn.__version__} (imputer+scaler+lbfgs, {args.dtype})",
                            lambda: make_pipeline(SimpleImputer(), StandardScaler(), logistic()),
                            x, y, xh, yh, args.repeats))
    rows.append(sklearn_row(f"sklearn {sklearn.__version__} (imputer+lbfgs, unscaled, {args.dtype})",
                            lambda: make_pipeline(SimpleImputer(), logistic()), x, y, xh, yh, args.repeats))

    reference = rows[1]["train_wall_s"]
    print(f"logistic regression, {x.shape[0]} x {x.shape[1]} training rows, {xh.shape[0]} holdout, "
          f"C={args.C}, median of {args.repeats}")
    print(f"{'model':58} {'wall s':>8} {'vs sklearn':>10} {'iters':>6} {'holdout AUC':>12}")
    for row in rows:
        print(f"{row['model']:58} {row['train_wall_s']:8.3f} {row['train_wall_s'] / reference:9.2f}x "
              f"{row['iterations']:6d} {row['holdout_auc']:12.5f}")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
