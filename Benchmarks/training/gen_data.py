"""Writes the synthetic binary-classification data set the training benchmark uses.

usage: python gen_data.py OUT_DIR [--rows 1000000] [--holdout 200000] [--seed 7]

Writes OUT_DIR/train.bin and OUT_DIR/holdout.bin. Format (little-endian):
    8 bytes  magic b"SLWTRN01"
    8 bytes  uint64 row count R
    8 bytes  uint64 feature count F
    R*F*4    float32 features, column-major (all of feature 0, then feature 1, ...); NaN = missing
    R*4      float32 labels (0 or 1)
Column-major float32 is what a FeatureMatrix is built from, so the Swift reader is a straight copy.

20 features: 8 carry signal through linear, threshold, periodic and interaction terms, 4 are noisy
copies of informative ones, 8 are pure noise; 3 features have 5% missing values (the missingness
itself carries a little signal). Labels are Bernoulli(sigmoid(f(x))), so the best AUC is below 1.
"""
import argparse, os
import numpy as np

MAGIC = b"SLWTRN01"


def make(rows, rng):
    x = rng.standard_normal((rows, 20), dtype=np.float32)
    x[:, 8] = x[:, 0] + 0.5 * x[:, 8]
    x[:, 9] = x[:, 1] - 0.7 * x[:, 9]
    x[:, 10] = 0.6 * x[:, 2] + x[:, 3] * 0.4 + 0.3 * x[:, 10]
    x[:, 11] = np.abs(x[:, 4]) + 0.5 * x[:, 11]
    f = (1.2 * x[:, 0] - 0.9 * x[:, 1] + 1.1 * np.sin(2.0 * x[:, 2]) + 0.8 * x[:, 3] * x[:, 4]
         + 1.0 * (x[:, 5] > 0.5) - 0.7 * np.abs(x[:, 6]) + 0.35 * x[:, 7] ** 2 - 0.3)
    missing = rng.random((rows, 3)) < 0.05
    f += 0.4 * missing[:, 0]
    y = (rng.random(rows) < 1.0 / (1.0 + np.exp(-f))).astype(np.float32)
    for column, mask in zip((5, 12, 13), missing.T):
        x[mask, column] = np.nan
    return x, y


def write(path, x, y):
    rows, features = x.shape
    with open(path, "wb") as out:
        out.write(MAGIC)
        out.write(np.array([rows, features], dtype="<u8").tobytes())
        out.write(np.asfortranarray(x, dtype="<f4").tobytes(order="F"))
        out.write(y.astype("<f4").tobytes())


def read(path):
    """(X float32 row-major, y float32) from a file written by write()."""
    with open(path, "rb") as f:
        assert f.read(8) == MAGIC, f"{path} is not a Slipway training-benchmark file"
        rows, features = np.frombuffer(f.read(16), dtype="<u8")
        x = np.frombuffer(f.read(int(rows * features) * 4), dtype="<f4").reshape((int(features), int(rows))).T
        y = np.frombuffer(f.read(int(rows) * 4), dtype="<f4")
    return np.ascontiguousarray(x), y


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--holdout", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    x, y = make(args.rows + args.holdout, rng)
    write(os.path.join(args.out_dir, "train.bin"), x[: args.rows], y[: args.rows])
    write(os.path.join(args.out_dir, "holdout.bin"), x[args.rows:], y[args.rows:])
    print(f"wrote {args.rows} training and {args.holdout} holdout rows x {x.shape[1]} features to {args.out_dir}"
          f" (positive rate {y.mean():.3f})")


if __name__ == "__main__":
    main()
