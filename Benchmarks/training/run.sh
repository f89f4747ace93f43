#!/usr/bin/env bash
# Trains Slipway's GBDT, LightGBM and XGBoost on the same synthetic 1M x 20 binary data and compares
# training time, holdout AUC and peak RSS. usage: Benchmarks/training/run.sh [REPEATS]
# Environment: PYTHON (a python with numpy, scikit-learn, lightgbm, xgboost), DATA_DIR (default
# Benchmarks/training/.data, gitignored; about 100 MB).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
benchmarks=$(cd "$here/.." && pwd)
python=${PYTHON:-}
if [ -z "$python" ]; then
    for candidate in "$HOME/.cache/slipway-peers/venv/bin/python" /tmp/venv/bin/python python3; do
        if command -v "$candidate" >/dev/null && "$candidate" -c "import lightgbm, xgboost, sklearn" 2>/dev/null; then
            python=$candidate
            break
        fi
    done
fi
[ -n "$python" ] || { echo "set PYTHON to a python with numpy, scikit-learn, lightgbm and xgboost" >&2; exit 1; }
data=${DATA_DIR:-$here/.data}
if [ ! -f "$data/train.bin" ] || [ ! -f "$data/holdout.bin" ]; then
    "$python" "$here/gen_data.py" "$data"
fi
swift build -c release --package-path "$benchmarks" --scratch-path "$benchmarks/.build-release" \
    --product slipway-train-bench
"$python" "$here/compare.py" --slipway "$benchmarks/.build-release/release/slipway-train-bench" \
    --data "$data" --repeats "${1:-3}"
