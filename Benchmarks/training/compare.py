"""Runs Slipway, LightGBM and XGBoost training side by side, interleaved, and prints a comparison table.

usage: python compare.py --slipway PATH/slipway-train-bench --data DATA_DIR [--repeats 3] [--threads 2]

Each contender runs in its own process (so peak RSS is its own, read from wait4's rusage) and prints one
JSON line with its training wall time and holdout AUC. Rounds are interleaved (S, L, L-passive, X, X-passive, S, ...)
so that load from other users of the machine falls on all of them alike, and each run first waits (up to
90 s) for the machine to be quiet; the table shows medians and best runs.
"""
import argparse, json, os, statistics, subprocess, sys, time

HERE = os.path.dirname(os.path.abspath(__file__))


def busy_cores():
    """CPU cores busy over the last 0.5 s, from /proc/stat (all processes)."""
    def sample():
        values = list(map(int, open("/proc/stat").readline().split()[1:9]))
        return sum(values) - values[3] - values[4], sum(values)
    b0, t0 = sample(); time.sleep(0.5); b1, t1 = sample()
    return os.cpu_count() * (b1 - b0) / max(1, t1 - t0)


def wait_quiet(max_wait, threshold=0.3, needed=3):
    """Waits until `needed` consecutive samples show fewer than `threshold` busy cores, or `max_wait` s."""
    deadline, quiet = time.time() + max_wait, 0
    while time.time() < deadline and quiet < needed:
        quiet = quiet + 1 if busy_cores() < threshold else 0


def run(name, command, env=None, max_wait=90):
    wait_quiet(max_wait)
    load = busy_cores()
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    output = process.stdout.read().decode()
    if status != 0:
        sys.exit(f"{name} failed ({status}): {output}")
    record = json.loads(output.strip().splitlines()[-1])
    record.update(name=name, process_wall_s=round(elapsed, 2), cpu_s=round(usage.ru_utime + usage.ru_stime, 2),
                  peak_rss_mb=round(usage.ru_maxrss / 1024, 1), busy_cores_before=round(load, 2))
    print(json.dumps(record), flush=True)
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--slipway", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--leaves", type=int, default=63)
    parser.add_argument("--only", help="comma-separated subset of slipway,lightgbm,xgboost")
    args = parser.parse_args()
    train, holdout = os.path.join(args.data, "train.bin"), os.path.join(args.data, "holdout.bin")
    common = ["--trees", str(args.trees), "--leaves", str(args.leaves), "--threads", str(args.threads)]
    peers = [sys.executable, os.path.join(HERE, "bench_peers.py")]
    contenders = [
        ("slipway", [args.slipway, train, holdout, *common], None),
        ("lightgbm", [*peers, "lightgbm", args.data, *common], None),
        # OpenMP threads spin while waiting by default, which costs LightGBM dearly when other processes
        # share the cores; passive waiting is its better setting on a shared machine.
        ("lightgbm (OMP_WAIT_POLICY=passive)", [*peers, "lightgbm", args.data, *common], {"OMP_WAIT_POLICY": "passive"}),
        ("xgboost", [*peers, "xgboost", args.data, *common], None),
        ("xgboost (OMP_WAIT_POLICY=passive)", [*peers, "xgboost", args.data, *common], {"OMP_WAIT_POLICY": "passive"}),
    ]
    if args.only:
        contenders = [c for c in contenders if c[0].split()[0] in args.only.split(",")]
    results = {name: [] for name, _, _ in contenders}
    for _ in range(args.repeats):
        for name, command, env in contenders:
            results[name].append(run(name, command, env))

    def median(name, key):
        return statistics.median(r[key] for r in results[name])

    lightgbms = [name for name in results if name.startswith("lightgbm")]
    best_lightgbm = min(lightgbms, key=lambda n: median(n, "train_wall_s")) if lightgbms else next(iter(results))
    reference = median(best_lightgbm, "train_wall_s")
    print(f"\n{args.repeats} interleaved runs, medians; {args.trees} trees, {args.leaves} leaves, "
          f"{args.threads} threads; time ratio against the faster LightGBM setting ({best_lightgbm})")
    best_reference = min(r["train_wall_s"] for r in results[best_lightgbm])
    cpu_reference = median(best_lightgbm, "cpu_s")
    print("train s: training wall time (median, and best run: noise only ever adds time); cpu s: user+system "
          "CPU of the whole process (median)")
    print(f"{'contender':38} {'train s':>8} {'ratio':>6} {'best s':>7} {'ratio':>6} {'cpu s':>6} {'ratio':>6} "
          f"{'AUC':>8} {'peak RSS MB':>12}")
    for name in results:
        wall = median(name, "train_wall_s")
        best = min(r["train_wall_s"] for r in results[name])
        cpu = median(name, "cpu_s")
        print(f"{name:38} {wall:8.2f} {wall / reference:6.2f} {best:7.2f} {best / best_reference:6.2f} "
              f"{cpu:6.1f} {cpu / cpu_reference:6.2f} {median(name, 'holdout_auc'):8.5f} "
              f"{median(name, 'peak_rss_mb'):12.0f}")


if __name__ == "__main__":
    main()
