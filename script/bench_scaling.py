#!/usr/bin/env python3
"""The PostgreSQL scaling table: commands/s, p50 and p99 at 1 to 64 clients on disjoint streams,
1- and 10-stream commands, synchronous commit on and off, for eventcore's executor, a raw libpq
baseline with a plain sequence for positions (nothing shared between writers: the ceiling), and,
where given, eventcore before the change (`--before`, a bench_scaling built from an older tree).
Also the same on several processes at once (`--processes 4x16`), and WAL flushes per commit
from pg_stat_wal. The sides are interleaved: each configuration runs every side in turn, in a
rotating order, round after round, each on a fresh schema.

Run by `script/bench --scaling`, which starts the server and passes its connection string in
EVENTCORE_PG. Writes OUT/scaling.json and OUT/scaling.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time


def run(binary, args, env):
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise SystemExit(f"{binary} {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def wal(binary, env):
    syncs, commits = run(binary, ["wal"], env).split()
    return int(syncs), int(commits)


def percentile(values, p):
    if not values:
        return 0.0
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def one_run(side, binary, setup_binary, cfg, seconds, env, tag):
    schema = f"scale_{tag}"
    run(setup_binary, ["drop", "--schema", schema], env)  # left over from an interrupted run
    run(binary, ["setup", "--side", "raw" if side == "raw" else "eventcore", "--schema", schema], env)
    procs, threads = cfg["processes"], cfg["clients"] // cfg["processes"]
    before = wal(setup_binary, env)
    start_at = int(time.time() * 1000) + (1500 if procs > 1 else 0)
    children = [
        subprocess.Popen([binary, "run", "--side", "raw" if side == "raw" else "eventcore", "--schema", schema,
                          "--clients", str(threads), "--streams", str(cfg["streams"]), "--seconds", str(seconds),
                          "--process", str(p), "--start-at", str(start_at if procs > 1 else 0)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for p in range(procs)
    ]
    outs = []
    for c in children:
        out, err = c.communicate()
        if c.returncode != 0:
            raise SystemExit(f"{side} run failed: {err.strip()}")
        outs.append(json.loads(out))
    after = wal(setup_binary, env)
    run(setup_binary, ["drop", "--schema", schema], env)
    latencies = [l for o in outs for l in o["latencies_us"]]
    commands = sum(o["commands"] for o in outs)
    span = max(o["seconds"] for o in outs)
    errors = sum(o["errors"] for o in outs)
    first_error = next((o["first_error"] for o in outs if o["first_error"]), "")
    return {
        "side": side, **cfg, "sync": cfg["sync"], "commands": commands, "seconds": span,
        "per_s": commands / span, "p50_ms": percentile(latencies, 0.5) / 1000, "p99_ms": percentile(latencies, 0.99) / 1000,
        "errors": errors, "first_error": first_error,
        "wal_syncs_per_commit": (after[0] - before[0]) / commands if commands else 0,
    }


def med(values):
    return statistics.median(values) if values else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--before", help="bench_scaling built from the tree to compare with")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--clients", default="1,2,4,8,16,32,64")
    ap.add_argument("--streams", default="1,10")
    ap.add_argument("--sync", default="on,off")
    ap.add_argument("--processes", default="4x16", help="PxT: P processes of T threads, or empty")
    ap.add_argument("--command", default="script/bench --scaling")
    a = ap.parse_args()
    base = os.environ.get("EVENTCORE_PG")
    if not base:
        raise SystemExit("bench_scaling.py: set EVENTCORE_PG")
    sides = [("now", a.bench), ("raw", a.bench)] + ([("before", a.before)] if a.before else [])
    configs = []
    for sync in a.sync.split(","):
        for streams in [int(s) for s in a.streams.split(",")]:
            for clients in [int(c) for c in a.clients.split(",")]:
                configs.append({"sync": sync, "streams": streams, "clients": clients, "processes": 1})
            if a.processes:
                p, t = (int(x) for x in a.processes.split("x"))
                configs.append({"sync": sync, "streams": streams, "clients": p * t, "processes": p})
    rows = []
    n = 0
    for rnd in range(a.rounds):
        for ci, cfg in enumerate(configs):
            env = dict(os.environ)
            env["EVENTCORE_PG"] = base if cfg["sync"] == "on" else base + " options='-c synchronous_commit=off'"
            k = (rnd + ci) % len(sides)
            for side, binary in sides[k:] + sides[:k]:
                n += 1
                row = one_run(side, binary, a.bench, cfg, a.seconds, env, f"{n}")
                row["round"] = rnd
                rows.append(row)
                print(f"round {rnd} sync {cfg['sync']} streams {cfg['streams']} clients {cfg['clients']}"
                      f"{' (' + str(cfg['processes']) + ' processes)' if cfg['processes'] > 1 else ''} {side}: "
                      f"{row['per_s']:.0f}/s p50 {row['p50_ms']:.2f} ms p99 {row['p99_ms']:.2f} ms "
                      f"flushes/commit {row['wal_syncs_per_commit']:.2f}"
                      f"{' errors ' + str(row['errors']) + ' ' + row['first_error'][:120] if row['errors'] else ''}",
                      flush=True)

    def pick(cfg, side, key):
        return [r[key] for r in rows if r["side"] == side and all(r[f] == cfg[f] for f in ("sync", "streams", "clients", "processes"))]

    summary = []
    for cfg in configs:
        s = dict(cfg)
        for side, _ in sides:
            per_s = pick(cfg, side, "per_s")
            s[side] = {"per_s": med(per_s), "min": min(per_s), "max": max(per_s), "p50_ms": med(pick(cfg, side, "p50_ms")),
                       "p99_ms": med(pick(cfg, side, "p99_ms")), "flushes": med(pick(cfg, side, "wal_syncs_per_commit")),
                       "errors": sum(pick(cfg, side, "errors"))}
        by_round = lambda side: {r["round"]: r["per_s"] for r in rows if r["side"] == side and all(r[f] == cfg[f] for f in ("sync", "streams", "clients", "processes"))}
        now, raw = by_round("now"), by_round("raw")
        s["now_over_raw"] = med([now[k] / raw[k] for k in now if k in raw and raw[k] > 0])
        p50_now, p50_raw = pick(cfg, "now", "p50_ms"), pick(cfg, "raw", "p50_ms")
        s["p50_now_over_raw"] = med([x / y for x, y in zip(p50_now, p50_raw) if y > 0])
        if a.before:
            before = by_round("before")
            s["now_over_before"] = med([now[k] / before[k] for k in now if k in before and before[k] > 0])
        summary.append(s)

    machine = subprocess.run(["sh", "-c", "nproc; uname -r; grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"],
                             capture_output=True, text=True).stdout.split("\n")
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "scaling.json"), "w") as f:
        json.dump({"command": a.command, "rounds": a.rounds, "seconds": a.seconds, "machine": machine,
                   "summary": summary, "runs": [{k: v for k, v in r.items()} for r in rows]}, f, indent=1)

    lines = [
        "# PostgreSQL: commands per second as clients are added",
        "",
        f"`{a.command}` ({a.rounds} rounds of {a.seconds:g} s per side and configuration, the sides interleaved in a",
        "rotating order, each run on a fresh schema). One PostgreSQL 15 on the same machine, "
        f"{machine[0].strip()} cores,{machine[2]}. Clients are threads with a connection each (eventcore: one store, "
        "a pool as large as the clients), each on streams of its own: no conflicts. The command reads its k streams, "
        "folds them and writes one event to each in one commit.",
        "",
        "- **now**: eventcore's executor on this tree;",
        "- **raw**: raw libpq doing the same read and one call of a function of its own (the same version checks "
        "under row locks, the same columns), with positions from a plain `bigserial`: nothing shared between "
        "writers, and a log a reader could skip. The ceiling;",
    ]
    if a.before:
        lines.append("- **before**: eventcore before this change (schema version 2: the `log_head` counter held to the "
                     "end of every commit, and `pg_notify` in every commit).")
    lines += ["", "Medians of the rounds (min-max over rounds for now); ratios are medians of per-round ratios. "
              "\"flushes\" is WAL syncs per command from `pg_stat_wal`.", ""]
    for sync in a.sync.split(","):
        for streams in [int(s) for s in a.streams.split(",")]:
            lines.append(f"## synchronous_commit = {sync}, {streams}-stream commands")
            lines.append("")
            head = "| clients |" + (" before /s |" if a.before else "") + " now /s | raw /s | now / raw |" + \
                   (" now / before |" if a.before else "") + " p50 now ms | p50 raw ms | p99 now ms | flushes now | flushes raw |"
            lines.append(head)
            lines.append("|" + "---|" * (head.count("|") - 1))
            for s in summary:
                if s["sync"] != sync or s["streams"] != streams:
                    continue
                label = f"{s['clients']}" if s["processes"] == 1 else f"{s['processes']} x {s['clients'] // s['processes']} processes"
                cells = [label]
                if a.before:
                    cells.append(f"{s['before']['per_s']:,.0f}")
                cells += [f"{s['now']['per_s']:,.0f} ({s['now']['min']:,.0f}-{s['now']['max']:,.0f})",
                          f"{s['raw']['per_s']:,.0f}", f"{s['now_over_raw']:.2f}"]
                if a.before:
                    cells.append(f"{s['now_over_before']:.2f}")
                cells += [f"{s['now']['p50_ms']:.2f}", f"{s['raw']['p50_ms']:.2f}", f"{s['now']['p99_ms']:.2f}",
                          f"{s['now']['flushes']:.2f}", f"{s['raw']['flushes']:.2f}"]
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
    errors = sum(s[side]["errors"] for s in summary for side, _ in sides)
    lines.append(f"Failed commands in all runs: {errors}.")
    lines.append("")
    lines.append("What the figures say, and why eventcore stays below the raw ceiling: "
                 "[ADR 8](../adr/0008-postgres-global-positions.md).")
    with open(os.path.join(a.out, "scaling.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {a.out}/scaling.md and {a.out}/scaling.json")


if __name__ == "__main__":
    sys.exit(main())
