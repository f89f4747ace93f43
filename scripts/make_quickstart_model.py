"""Writes examples/quickstart/fraud-xgboost.json: a tiny, real XGBoost model for the README quickstart.

Run by developers (not CI); the output is committed. Needs `pip install xgboost numpy`.
"""
import pathlib

import numpy as np
import xgboost as xgb

rng = np.random.default_rng(7)
rows, features = 400, 5
x = rng.normal(size=(rows, features)).astype(np.float32)
y = (x[:, 0] + 0.5 * x[:, 1] - x[:, 2] + rng.normal(scale=0.3, size=rows) > 0).astype(np.int32)
params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.5, "seed": 7, "nthread": 1}
model = xgb.train(params, xgb.DMatrix(x, label=y), num_boost_round=3)
out = pathlib.Path(__file__).resolve().parent.parent / "examples" / "quickstart" / "fraud-xgboost.json"
out.parent.mkdir(parents=True, exist_ok=True)
model.save_model(str(out))
print(f"wrote {out} ({out.stat().st_size} bytes)")
