"""Trains LightGBM or XGBoost on the gen_data.py files and prints one JSON line like slipway-train-bench's.

usage: python bench_peers.py lightgbm|xgboost DATA_DIR [--trees 100] [--leaves 63] [--threads 2]
Runs one library per process so peak RSS is its own. Loading the files is not timed; building the
library's dataset (binning) is, as Slipway's timing includes its binning.
"""
import argparse, json, os, resource, sys, time
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_data import read


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("library", choices=["lightgbm", "xgboost"])
    parser.add_argument("data_dir")
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--leaves", type=int, default=63)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    x, y = read(os.path.join(args.data_dir, "train.bin"))
    xh, yh = read(os.path.join(args.data_dir, "holdout.bin"))
    from sklearn.metrics import roc_auc_score

    if args.library == "lightgbm":
        import lightgbm as lgb
        params = dict(objective="binary", num_leaves=args.leaves, learning_rate=0.1, max_bin=255,
                      num_threads=args.threads, verbose=-1, seed=0)
        start = time.perf_counter()
        booster = lgb.train(params, lgb.Dataset(x, label=y), num_boost_round=args.trees)
        wall = time.perf_counter() - start
        predictions = booster.predict(xh)
        version = lgb.__version__
    else:
        import xgboost as xgb
        params = dict(objective="binary:logistic", tree_method="hist", grow_policy="lossguide",
                      max_leaves=args.leaves, max_depth=0, learning_rate=0.1, max_bin=256, nthread=args.threads,
                      seed=0)
        start = time.perf_counter()
        booster = xgb.train(params, xgb.DMatrix(x, label=y, nthread=args.threads), num_boost_round=args.trees)
        wall = time.perf_counter() - start
        predictions = booster.predict(xgb.DMatrix(xh, nthread=args.threads))
        version = xgb.__version__
    print(json.dumps(dict(model=args.library, version=version, train_wall_s=round(wall, 3),
                          holdout_auc=round(float(roc_auc_score(yh, predictions)), 5),
                          peak_rss_mb=round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
                          trees=args.trees, threads=args.threads)), flush=True)


if __name__ == "__main__":
    main()
