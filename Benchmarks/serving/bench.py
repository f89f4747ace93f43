"""Helpers for Benchmarks/serving/run.sh (standard library only; run with any Python 3.9+).

  bench.py wrk   --out FILE --run RUN --side S --model M --conns N --url URL --lua LUA [--body F] [--dur S]
                 [--server-pid PID] [--quiet-wait S] [--quiet-thr CORES]
      one wrk run (1 thread, --latency, 10 s timeout) after a 3 s warm-up at 2 connections; appends one JSON
      line to FILE with req/s, p50/p90/p99/max, error counts and the CPU used meanwhile by the server's
      process tree, by wrk, and by everything else on the machine ("foreign_cores": the noise). The
      Authorization header, if any, comes from $AUTH (read by the Lua script).
  bench.py body  SRC DST INPUT_NAME [OUTPUT_NAME]
      copies an OIP v2 request body, renaming its input (and asking only for OUTPUT_NAME if given).
  bench.py value RESPONSE.json
      prints the last value of the first output of an OIP v2 response: P(y=1) for one row.
  bench.py table --results FILE --run RUN [--markdown]
      prints the side-by-side table of one run and the goals it is measured against.
"""
import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time


# --- machine noise (same method as shared/peers/scripts/quiet.py) -------------------------------------

def cpu_jiffies():
    v = list(map(int, open("/proc/stat").readline().split()[1:]))
    return sum(v[:8]) - (v[3] + v[4]), sum(v[:8])


def busy_cores(interval=1.0):
    b0, t0 = cpu_jiffies()
    time.sleep(interval)
    b1, t1 = cpu_jiffies()
    return os.cpu_count() * (b1 - b0) / max(1, t1 - t0)


def wait_quiet(max_wait, thr, need=3):
    start, ok, last = time.time(), 0, 0.0
    while time.time() - start < max_wait:
        last = busy_cores()
        ok = ok + 1 if last < thr else 0
        if ok >= need:
            return True, round(time.time() - start, 1), round(last, 2)
    return False, round(time.time() - start, 1), round(last, 2)


def proc_tree_cpu(pid):
    """CPU seconds (user+system, with reaped children) of pid and its live descendants."""
    hz = os.sysconf("SC_CLK_TCK")
    children = {}
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            rest = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(rest[1]), []).append((int(p), sum(map(int, rest[11:15]))))
    try:
        rest = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    total, stack = sum(map(int, rest[11:15])), [pid]
    while stack:
        for child, ticks in children.get(stack.pop(), []):
            total += ticks
            stack.append(child)
    return total / hz


# --- commands -----------------------------------------------------------------------------------------

def cmd_wrk(a):
    env = dict(os.environ)
    if a.body:
        env["BODY"] = a.body
    quiet, waited, before = wait_quiet(a.quiet_wait, a.quiet_thr) if a.quiet_wait > 0 else (None, 0, None)
    subprocess.run(["wrk", "-t1", "-c2", "-d3s", "--timeout", "10s", "-s", a.lua, a.url],
                   env=env, stdout=subprocess.DEVNULL, check=True)
    srv0 = proc_tree_cpu(a.server_pid) if a.server_pid else 0.0
    b0, _ = cpu_jiffies()
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.time()
    p = subprocess.run(["wrk", "-t1", f"-c{a.conns}", f"-d{a.dur}s", "--timeout", "10s", "--latency", "-s", a.lua,
                        a.url], env=env, capture_output=True, text=True, timeout=a.dur + 60)
    wall = time.time() - w0
    b1, _ = cpu_jiffies()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    srv1 = proc_tree_cpu(a.server_pid) if a.server_pid else 0.0
    hz = os.sysconf("SC_CLK_TCK")
    total = (b1 - b0) / hz
    wrk_cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    srv_cpu = srv1 - srv0
    lines = [l for l in p.stdout.splitlines() if l.startswith("RESULT ")]
    r = json.loads(lines[0][7:]) if lines else {"error": (p.stdout[-500:] + p.stderr[-500:]).strip()}
    non2xx = [l.strip() for l in p.stdout.splitlines() if "Non-2xx" in l or "Socket errors" in l]
    rec = {
        "run": a.run, "side": a.side, "model": a.model, "conns": a.conns, "dur": a.dur, "url": a.url,
        "body": a.body, "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "quiet_before": quiet, "quiet_wait_s": waited, "busy_cores_before": before,
        "server_cores": round(srv_cpu / wall, 2) if a.server_pid else None,
        "wrk_cores": round(wrk_cpu / wall, 2),
        "foreign_cores": round(max(0.0, total - wrk_cpu - srv_cpu) / wall, 2),
        "r": r, "wrk_notes": non2xx,
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    with open(os.path.join(os.path.dirname(os.path.abspath(a.out)), f"wrk_{a.run}_{a.side}_{a.model}_c{a.conns}.txt"),
              "w") as f:
        f.write(p.stdout + p.stderr)
    print(f"  {a.side:8s} {a.model:8s} c={a.conns:<3d} req/s={r.get('rps')} p50={r.get('p50_ms')} ms "
          f"p99={r.get('p99_ms')} ms errors={r.get('errors_status')}/{r.get('errors_other')} "
          f"cores: server={rec['server_cores']} wrk={rec['wrk_cores']} other={rec['foreign_cores']}", flush=True)


def cmd_body(a):
    body = json.load(open(a.src))
    body["inputs"][0]["name"] = a.input_name
    body.pop("outputs", None)
    if a.output_name:
        body["outputs"] = [{"name": a.output_name}]
    json.dump(body, open(a.dst, "w"))


def cmd_value(a):
    response = json.load(open(a.response))
    print(repr(float(response["outputs"][0]["data"][-1])))


def fmt(v, nd=0):
    if v is None:
        return "-"
    return f"{v:,.{nd}f}" if nd == 0 else f"{v:.{nd}f}"


def cmd_table(a):
    recs = [json.loads(l) for l in open(a.results) if l.strip()]
    recs = [r for r in recs if r.get("run") == a.run]
    by = {(r["side"], r["model"], r["conns"]): r for r in recs}
    conns = sorted({r["conns"] for r in recs})
    models = [m for m in ("logreg", "xgb", "lgbm") if any(k[1] == m for k in by)]
    md = a.markdown

    def row(cells):
        return ("| " + " | ".join(cells) + " |") if md else "  ".join(cells)

    head = ["model", "conns", "MLServer req/s", "p50 ms", "p99 ms", "Slipway req/s", "p50 ms", "p99 ms",
            "req/s ratio", "p99 ratio", "Slipway/trivial", "errors M/S", "cores M/S/wrk/other"]
    widths = [8, 5, 14, 8, 8, 13, 8, 8, 11, 9, 15, 10, 20]
    out = []
    if md:
        out += [row(head), row(["---"] * len(head))]
    else:
        out.append("  ".join(h.rjust(w) for h, w in zip(head, widths)))
    goals = []
    for c in conns:
        trivial = by.get(("slipway", "healthz", c), {}).get("r", {}).get("rps")
        for m in models:
            ml, sw = by.get(("mlserver", m, c)), by.get(("slipway", m, c))
            mr, sr = (ml or {}).get("r", {}), (sw or {}).get("r", {})
            ratio = sr["rps"] / mr["rps"] if sr.get("rps") and mr.get("rps") else None
            p99 = sr["p99_ms"] / mr["p99_ms"] if sr.get("p99_ms") and mr.get("p99_ms") else None
            share = sr["rps"] / trivial if sr.get("rps") and trivial else None
            errs = f"{mr.get('errors_status', '-')}+{mr.get('errors_other', '-')}/" \
                   f"{sr.get('errors_status', '-')}+{sr.get('errors_other', '-')}"
            cores = f"{(ml or {}).get('server_cores')}/{(sw or {}).get('server_cores')}/" \
                    f"{(sw or {}).get('wrk_cores')}/{(sw or {}).get('foreign_cores')}"
            cells = [m, str(c), fmt(mr.get("rps")), fmt(mr.get("p50_ms"), 2), fmt(mr.get("p99_ms"), 2),
                     fmt(sr.get("rps")), fmt(sr.get("p50_ms"), 2), fmt(sr.get("p99_ms"), 2),
                     (fmt(ratio, 1) + "x") if ratio else "-", fmt(p99, 3), fmt(share, 2), errs, cores]
            out.append(row(cells) if md else "  ".join(x.rjust(w) for x, w in zip(cells, widths)))
            if c == 32:
                goals.append((m, ratio, p99, share))
            elif share is not None:
                goals.append((m + f"@{c}", None, None, share))
        h = by.get(("slipway", "healthz", c))
        if h:
            hr = h["r"]
            cells = ["healthz", str(c), "", "", "", fmt(hr.get("rps")), fmt(hr.get("p50_ms"), 2),
                     fmt(hr.get("p99_ms"), 2), "", "", "1.00",
                     f"-/{hr.get('errors_status')}+{hr.get('errors_other')}",
                     f"-/{h.get('server_cores')}/{h.get('wrk_cores')}/{h.get('foreign_cores')}"]
            out.append(row(cells) if md else "  ".join(x.rjust(w) for x, w in zip(cells, widths)))
    print("\n".join(out))
    print()
    print("req/s ratio = Slipway / MLServer; p99 ratio = Slipway p99 / MLServer p99; Slipway/trivial = the "
          "prediction route's req/s / GET /healthz req/s at the same connections; cores = CPU cores used during "
          "the run by MLServer / Slipway / wrk (Slipway's run) / everything else (Slipway's run).")
    print("Goals: at 32 connections req/s ratio >= 10 and p99 ratio <= 0.1; Slipway/trivial >= 0.70.")
    for m, ratio, p99, share in goals:
        parts = []
        if ratio is not None:
            parts.append(f"throughput {ratio:.1f}x {'MET' if ratio >= 10 else 'NOT met'}")
        if p99 is not None:
            parts.append(f"p99 {p99:.3f} {'MET' if p99 <= 0.1 else 'NOT met'}")
        if share is not None:
            parts.append(f"prediction/trivial {share:.2f} {'MET' if share >= 0.70 else 'NOT met'}")
        print(f"  {m:10s} " + "; ".join(parts))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("wrk")
    for name in ("--out", "--run", "--side", "--model", "--url", "--lua"):
        w.add_argument(name, required=True)
    w.add_argument("--conns", type=int, required=True)
    w.add_argument("--body")
    w.add_argument("--dur", type=int, default=15)
    w.add_argument("--server-pid", type=int, default=0)
    w.add_argument("--quiet-wait", type=float, default=20)
    w.add_argument("--quiet-thr", type=float, default=0.3)
    b = sub.add_parser("body")
    b.add_argument("src"); b.add_argument("dst"); b.add_argument("input_name"); b.add_argument("output_name", nargs="?")
    v = sub.add_parser("value")
    v.add_argument("response")
    t = sub.add_parser("table")
    t.add_argument("--results", required=True); t.add_argument("--run", required=True)
    t.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    {"wrk": cmd_wrk, "body": cmd_body, "value": cmd_value, "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
