"""Helpers for Benchmarks/serving/run.sh (standard library only; run with any Python 3.9+).

  bench.py wrk   --out FILE --run RUN --side S --model M --conns N --url URL --lua LUA [--body F] [--dur S]
                 [--server-pid PID] [--quiet-wait S] [--quiet-thr CORES] [--rep K] [--pair MODEL]
      one wrk run (1 thread, --latency, 10 s timeout) after a 3 s warm-up at 2 connections; appends one JSON
      line to FILE with req/s, p50/p90/p99/max, error counts and the CPU used meanwhile by the server's
      process tree, by wrk, and by everything else on the machine ("foreign_cores": the noise). The
      Authorization header, if any, comes from $AUTH (read by the Lua script).
  bench.py body  SRC DST INPUT_NAME [OUTPUT_NAME]
      copies an OIP v2 request body, renaming its input (and asking only for OUTPUT_NAME if given).
  bench.py value RESPONSE.json
      prints the last value of the first output of an OIP v2 response: P(y=1) for one row.
  bench.py table --results FILE --run RUN [--markdown]
      prints the side-by-side table of one run (medians over its repetitions) and the goals.
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
        "run": a.run, "rep": a.rep, "pair": a.pair, "side": a.side, "model": a.model, "conns": a.conns, "dur": a.dur,
        "url": a.url,
        "body": a.body, "when": datetime.datetime.now().isoformat(timespec="seconds"),
        "quiet_before": quiet, "quiet_wait_s": waited, "busy_cores_before": before,
        "server_cores": round(srv_cpu / wall, 2) if a.server_pid else None,
        "wrk_cores": round(wrk_cpu / wall, 2),
        "foreign_cores": round(max(0.0, total - wrk_cpu - srv_cpu) / wall, 2),
        "r": r, "wrk_notes": non2xx,
    }
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    with open(os.path.join(os.path.dirname(os.path.abspath(a.out)), f"wrk_{a.run}_r{a.rep}_{a.side}_{a.model}{'_' + a.pair if a.pair else ''}_c{a.conns}.txt"),
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


def median(values):
    values = sorted(v for v in values if v is not None)
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def cmd_table(a):
    """One row per model and connection count: the median over repetitions of each figure, and of each
    ratio computed within a repetition (Slipway against the MLServer run just before it, and against the
    GET /healthz run just after it), so a slow minute on a shared machine moves both sides of a ratio."""
    recs = [json.loads(l) for l in open(a.results) if l.strip()]
    recs = [r for r in recs if r.get("run") == a.run]
    by = {}
    for r in recs:
        by.setdefault((r["side"], r["model"], r["conns"]), {})[r.get("rep", 1)] = r
    trivial_by = {}
    for r in recs:
        if r["model"] == "healthz":
            trivial_by[(r["conns"], r.get("pair"), r.get("rep", 1))] = r
    conns = sorted({r["conns"] for r in recs})
    models = [m for m in ("logreg", "xgb", "lgbm") if any(k[1] == m for k in by)]
    reps = sorted({r.get("rep", 1) for r in recs})
    md = a.markdown

    def row(cells):
        return ("| " + " | ".join(cells) + " |") if md else "  ".join(cells)

    def rps(rec):
        return (rec or {}).get("r", {}).get("rps")

    def field(rec, name):
        return (rec or {}).get("r", {}).get(name)

    def trivial_for(c, m, rep):
        return trivial_by.get((c, m, rep)) or trivial_by.get((c, None, rep))

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
        for m in models:
            ml, sw = by.get(("mlserver", m, c), {}), by.get(("slipway", m, c), {})
            ratios, p99s, shares = [], [], []
            for rep in reps:
                mr, sr, tr = ml.get(rep), sw.get(rep), trivial_for(c, m, rep)
                if rps(sr) and rps(mr):
                    ratios.append(rps(sr) / rps(mr))
                if field(sr, "p99_ms") and field(mr, "p99_ms"):
                    p99s.append(field(sr, "p99_ms") / field(mr, "p99_ms"))
                if rps(sr) and rps(tr):
                    shares.append(rps(sr) / rps(tr))
            ratio, p99, share = median(ratios), median(p99s), median(shares)
            errors = lambda d: (sum(field(r, "errors_status") or 0 for r in d.values()),
                                sum(field(r, "errors_other") or 0 for r in d.values()))
            (me, mo), (se, so) = errors(ml), errors(sw)
            cores = lambda d, k: fmt(median([r.get(k) for r in d.values()]), 2)
            cells = [m, str(c), fmt(median([rps(r) for r in ml.values()])),
                     fmt(median([field(r, "p50_ms") for r in ml.values()]), 2),
                     fmt(median([field(r, "p99_ms") for r in ml.values()]), 2),
                     fmt(median([rps(r) for r in sw.values()])),
                     fmt(median([field(r, "p50_ms") for r in sw.values()]), 2),
                     fmt(median([field(r, "p99_ms") for r in sw.values()]), 2),
                     (fmt(ratio, 1) + "x") if ratio else "-", fmt(p99, 3), fmt(share, 2),
                     f"{me}+{mo}/{se}+{so}",
                     f"{cores(ml, 'server_cores')}/{cores(sw, 'server_cores')}/{cores(sw, 'wrk_cores')}/"
                     f"{cores(sw, 'foreign_cores')}"]
            out.append(row(cells) if md else "  ".join(x.rjust(w) for x, w in zip(cells, widths)))
            if c == 32:
                goals.append((m, ratio, p99, share))
            elif share is not None:
                goals.append((m + f"@{c}", None, None, share))
        hs = [r for (cc, _, _), r in trivial_by.items() if cc == c]
        if hs:
            cells = ["healthz", str(c), "", "", "", fmt(median([rps(r) for r in hs])),
                     fmt(median([field(r, "p50_ms") for r in hs]), 2), fmt(median([field(r, "p99_ms") for r in hs]), 2),
                     "", "", "1.00",
                     f"-/{sum(field(r, 'errors_status') or 0 for r in hs)}+{sum(field(r, 'errors_other') or 0 for r in hs)}",
                     f"-/{fmt(median([r.get('server_cores') for r in hs]), 2)}/"
                     f"{fmt(median([r.get('wrk_cores') for r in hs]), 2)}/{fmt(median([r.get('foreign_cores') for r in hs]), 2)}"]
            out.append(row(cells) if md else "  ".join(x.rjust(w) for x, w in zip(cells, widths)))
    print("\n".join(out))
    router_rows = []
    for c in conns:
        for m in models:
            sw, ro = by.get(("slipway", m, c), {}), by.get(("router", m, c), {})
            if not ro:
                continue
            gains = [rps(sw[k]) / rps(ro[k]) for k in reps if rps(sw.get(k)) and rps(ro.get(k))]
            shares = [rps(ro[k]) / rps(trivial_for(c, m, k)) for k in reps if rps(ro.get(k)) and rps(trivial_for(c, m, k))]
            p99s = [field(ro[k], "p99_ms") / field(ml[k], "p99_ms") for k in reps
                    for ml in [by.get(("mlserver", m, c), {})] if field(ro.get(k), "p99_ms") and field(ml.get(k), "p99_ms")]
            router_rows.append([m, str(c), fmt(median([rps(r) for r in ro.values()])),
                                fmt(median([field(r, "p50_ms") for r in ro.values()]), 2),
                                fmt(median([field(r, "p99_ms") for r in ro.values()]), 2),
                                (fmt(median(gains), 2) + "x") if gains else "-", fmt(median(p99s), 3),
                                fmt(median(shares), 2)])
    if router_rows:
        head2 = ["model", "conns", "router req/s", "p50 ms", "p99 ms", "fast/router", "p99 vs MLServer", "router/trivial"]
        widths2 = [8, 5, 12, 8, 8, 11, 15, 14]
        print()
        print("The same requests through the router (the fast path declines a query string: ?environment=production):")
        if md:
            print(row(head2)); print(row(["---"] * len(head2)))
        else:
            print("  ".join(h.rjust(w) for h, w in zip(head2, widths2)))
        for cells in router_rows:
            print(row(cells) if md else "  ".join(x.rjust(w) for x, w in zip(cells, widths2)))
    print()
    print(f"{len(reps)} repetition(s); every figure is the median over them. req/s ratio = Slipway / MLServer (the "
          "MLServer run just before); p99 ratio = Slipway p99 / MLServer p99; Slipway/trivial = the prediction "
          "route's req/s / the req/s of Slipway's GET /healthz run just after it; cores = CPU cores used during "
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
    w.add_argument("--rep", type=int, default=1, help="which repetition of the whole run this is")
    w.add_argument("--pair", help="for the trivial route: the model whose run it directly follows")
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
