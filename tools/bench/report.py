#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Turn the rows of "make bench" into the report.

usage: report.py DIR

Reads DIR/out-<service>-<round>/rows.jsonl (tools/bench/guest.sh), writes
DIR/results.json and DIR/throughput.png, and prints a table with the ratio
module/C per row and a last line "module/C throughput: min X, median Y".

Each row's figure for a service is the median over its rounds; the noise of a
row is half the larger relative spread (max - min over median) of the two
services' rounds, so a ratio r is "at least as fast" when r + noise >= 1.
"""

import glob
import json
import os
import statistics
import sys

SERVICES = ("module", "c")
# The fields that identify a row, in the order they are shown.
KEYS = ("workload", "auth", "threads", "agents", "namespaces", "pending")


def load(d):
    rows = []
    for path in sorted(glob.glob(os.path.join(d, "out-*-*", "rows.jsonl"))):
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    return rows


def key(row):
    return tuple((k, row[k]) for k in KEYS if k in row)


def throughput(row):
    """Handshakes per second of a row, or None for rows without one."""
    r = row["result"]
    w = row["workload"]
    if w in ("closed", "netns", "tlshd"):
        # From "go" to the last ta_done: every thread's whole loop.
        return r["ok"] / (r["last_done_ns"] / 1e9) if r["last_done_ns"] else 0.0
    if w in ("backlog", "slab"):
        # The drain: first to last ta_done (the agents start after "go").
        span = r["last_done_ns"] - r["first_done_ns"]
        return (r["ok"] - 1) / (span / 1e9) if span > 0 else 0.0
    return None


def figures(row):
    r = row["result"]
    f = {}
    hps = throughput(row)
    if hps is not None:
        f["hps"] = hps
    if row["workload"] == "floor":
        f["p50_ns"] = r["p50_ns"]
        f["p99_ns"] = r["p99_ns"]
        f["mean_ns"] = r["mean_ns"]
    elif "p50_ns" in r:
        f["p50_ns"] = r["p50_ns"]
        f["p99_ns"] = r["p99_ns"]
    if row["workload"] == "slab":
        f["bytes_per_request"] = row["bytes_per_request"]
    return f


def spread(values):
    m = statistics.median(values)
    return (max(values) - min(values)) / m if m else 0.0


def summarise(rows):
    table = {}
    for row in rows:
        entry = table.setdefault(key(row), {s: {} for s in SERVICES})
        per = entry[row["service"]]
        for name, value in figures(row).items():
            per.setdefault(name, []).append(value)
    out = []
    for k, entry in table.items():
        item = {"row": dict(k)}
        for s in SERVICES:
            item[s] = {
                name: {"rounds": vals, "median": statistics.median(vals)}
                for name, vals in entry[s].items()
            }
        m, c = item["module"], item["c"]
        if "hps" in m and "hps" in c and c["hps"]["median"]:
            item["ratio"] = m["hps"]["median"] / c["hps"]["median"]
            item["noise"] = max(spread(m["hps"]["rounds"]), spread(c["hps"]["rounds"])) / 2
        out.append(item)
    # Rows in a stable order: by workload as run, then by their numbers.
    order = {w: i for i, w in enumerate(("floor", "closed", "netns", "backlog", "slab", "tlshd"))}
    out.sort(key=lambda i: (order.get(i["row"]["workload"], 99),
                            [str(v).rjust(8) for v in i["row"].values()]))
    return out


def med(item, service, name):
    v = item[service].get(name)
    return v["median"] if v else None


def floor_of(items, service):
    for i in items:
        if i["row"]["workload"] == "floor":
            return med(i, service, "p50_ns")
    return None


def label(row):
    w = row["workload"]
    if w == "floor":
        return "floor (2 genl round trips + fd)"
    if w == "closed":
        return f"closed loop {row['threads']} thr / {row['agents']} agents"
    if w == "netns":
        return f"{row['namespaces']} namespaces (1 thr + 1 agent each)"
    if w == "backlog":
        return f"backlog {row['pending']} pending / {row['agents']} agents"
    if w == "slab":
        return f"{row['pending']} pending in {row['namespaces']} ns, drained"
    if w == "tlshd":
        return f"tlshd {row['auth']} vs gnutls-serv, {row['threads']} thr"
    return w


def us(ns):
    return "-" if ns is None else f"{ns / 1000:.0f}"


def print_table(items):
    floors = {s: floor_of(items, s) for s in SERVICES}
    head = (f"{'row':44} {'hs/s mod':>9} {'hs/s C':>9} {'ratio':>6} {'noise':>6}"
            f" {'p50 µs m/C':>11} {'p99 µs m/C':>11} {'x floor m/C':>11}")
    print(head)
    print("-" * len(head))
    for i in items:
        r = i["row"]
        if r["workload"] == "floor":
            print(f"{label(r):44} {'':>9} {'':>9} {'':>6} {'':>6}"
                  f" {us(med(i, 'module', 'p50_ns')):>5}/{us(med(i, 'c', 'p50_ns')):<5}"
                  f" {us(med(i, 'module', 'p99_ns')):>5}/{us(med(i, 'c', 'p99_ns')):<5}")
            continue
        hm, hc = med(i, "module", "hps"), med(i, "c", "hps")
        pm, pc = med(i, "module", "p50_ns"), med(i, "c", "p50_ns")
        xf = "-"
        if r["workload"] == "closed" and pm and pc and floors["module"] and floors["c"]:
            xf = f"{pm / floors['module']:.1f}/{pc / floors['c']:.1f}"
        ratio = f"{i['ratio']:.2f}" if "ratio" in i else "-"
        noise = f"±{i['noise']:.2f}" if "noise" in i else "-"
        print(f"{label(r):44} {hm or 0:9.0f} {hc or 0:9.0f} {ratio:>6} {noise:>6}"
              f" {us(pm):>5}/{us(pc):<5} {us(med(i, 'module', 'p99_ns')):>5}/"
              f"{us(med(i, 'c', 'p99_ns')):<5} {xf:>11}")
    for i in items:
        if i["row"]["workload"] == "slab":
            bm, bc = med(i, "module", "bytes_per_request"), med(i, "c", "bytes_per_request")
            print(f"\nslab bytes per pending request: module {bm:.0f}, C {bc:.0f}"
                  f" (module/C {bm / bc:.2f}; rounds: module "
                  f"{i['module']['bytes_per_request']['rounds']}, C {i['c']['bytes_per_request']['rounds']})")


def plot(items, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5))
    closed = [i for i in items if i["row"]["workload"] == "closed"]
    # One colour per thread count: the module solid, C dashed.
    for n, threads in enumerate(sorted({i["row"]["threads"] for i in closed})):
        pts = sorted((i["row"]["agents"], i) for i in closed if i["row"]["threads"] == threads)
        for s, style in (("module", "-o"), ("c", "--s")):
            left.plot([a for a, _ in pts], [med(i, s, "hps") for _, i in pts], style,
                      color=f"C{n}",
                      label=f"{'module' if s == 'module' else 'C'}, {threads} thr")
    left.set_xscale("log", base=2)
    left.set_xlabel("null agents")
    left.set_ylabel("handshakes per second")
    left.set_title("closed loop: consumer threads against agents")
    if closed:
        left.legend(fontsize=7, ncol=2)
    netns = sorted((i["row"]["namespaces"], i) for i in items if i["row"]["workload"] == "netns")
    for s, style in (("module", "-o"), ("c", "--s")):
        right.plot([n for n, _ in netns], [med(i, s, "hps") for _, i in netns], style,
                   label="module" if s == "module" else "C")
    right.set_xscale("log", base=2)
    right.set_xlabel("network namespaces (1 thread + 1 agent each)")
    right.set_ylabel("handshakes per second")
    right.set_title("requests spread over namespaces")
    if netns:
        right.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    d = sys.argv[1]
    rows = load(d)
    if not rows:
        sys.exit(f"report.py: no rows under {d}")
    items = summarise(rows)
    with open(os.path.join(d, "results.json"), "w") as f:
        json.dump({"rows": items}, f, indent=1)
    print_table(items)
    try:
        plot(items, os.path.join(d, "throughput.png"))
        print(f"\nplot: {os.path.join(d, 'throughput.png')}; figures: {os.path.join(d, 'results.json')}")
    except ImportError:
        print("\nno plot: python3-matplotlib is missing")
    ratios = sorted(i["ratio"] for i in items if "ratio" in i)
    if ratios:
        print(f"module/C throughput: min {ratios[0]:.2f}, median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
