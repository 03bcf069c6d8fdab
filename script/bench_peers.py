#!/usr/bin/env python3
"""eventcore next to a peer on the same PostgreSQL server: the single-stream command of
scaling.md (read the stream, fold it, append one event with the version read as the expected
version) in eventcore's executor and in Emmett's PostgreSQL event store (Node), at 1, 8 and 64
clients, the two sides interleaved, round after round. Run by `script/bench --peers`, which
starts the server and passes its connection string in EVENTCORE_PG. Writes OUT/peers.md and
OUT/peers.json.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys


def eventcore(bench, clients, seconds, tag):
    schema = f"peer_{tag}"
    subprocess.run([bench, "drop", "--schema", schema], check=True)
    subprocess.run([bench, "setup", "--side", "eventcore", "--schema", schema], check=True)
    out = subprocess.run([bench, "run", "--side", "eventcore", "--schema", schema, "--clients", str(clients),
                          "--streams", "1", "--seconds", str(seconds)], check=True, capture_output=True, text=True).stdout
    subprocess.run([bench, "drop", "--schema", schema], check=True)
    d = json.loads(out)
    lat = sorted(d["latencies_us"])
    return {"side": "eventcore", "clients": clients, "per_s": d["commands"] / d["seconds"],
            "p50_ms": lat[len(lat) // 2] / 1000 if lat else 0, "errors": d["errors"]}


def emmett(folder, clients, seconds):
    out = subprocess.run(["node", "bench.mjs", str(clients), str(seconds)], cwd=folder, check=True,
                         capture_output=True, text=True).stdout
    d = json.loads(out.strip().splitlines()[-1])
    return {"side": "emmett", "clients": clients, "per_s": d["per_s"], "p50_ms": d["p50_ms"], "errors": d["errors"]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--emmett", required=True, help="benchmarks/peers/emmett, with its packages installed")
    ap.add_argument("--out", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--clients", default="1,8,64")
    a = ap.parse_args()
    rows = []
    n = 0
    for rnd in range(a.rounds):
        for clients in [int(c) for c in a.clients.split(",")]:
            order = ["eventcore", "emmett"] if (rnd + clients) % 2 == 0 else ["emmett", "eventcore"]
            for side in order:
                n += 1
                r = eventcore(a.bench, clients, a.seconds, f"{os.getpid()}_{n}") if side == "eventcore" else \
                    emmett(a.emmett, clients, a.seconds)
                r["round"] = rnd
                rows.append(r)
                print(f"round {rnd} clients {clients} {side}: {r['per_s']:.0f}/s p50 {r['p50_ms']:.2f} ms"
                      f"{' errors ' + str(r['errors']) if r['errors'] else ''}", flush=True)
    lines = ["# eventcore next to Emmett on the same PostgreSQL", "",
             f"`script/bench --peers` ({a.rounds} rounds of {a.seconds:g} s per side, interleaved). The single-stream "
             "command of [scaling.md](scaling.md): read the stream, fold it, append one event with the version read as "
             "the expected version, on streams of each client's own. eventcore: C threads, one store with a pool of C "
             "connections. Emmett (`@event-driven-io/emmett-postgresql` 0.42.0, Node 20): C concurrent async loops in one "
             "process, a pool of C connections. Same server, fresh schema per eventcore run.", "",
             "| clients | eventcore /s | Emmett /s | eventcore / Emmett | p50 eventcore ms | p50 Emmett ms |",
             "|---:|---:|---:|---:|---:|---:|"]
    summary = []
    for clients in [int(c) for c in a.clients.split(",")]:
        ec = {r["round"]: r for r in rows if r["side"] == "eventcore" and r["clients"] == clients}
        em = {r["round"]: r for r in rows if r["side"] == "emmett" and r["clients"] == clients}
        ratio = statistics.median([ec[k]["per_s"] / em[k]["per_s"] for k in ec if k in em and em[k]["per_s"] > 0])
        s = {"clients": clients, "eventcore": statistics.median(r["per_s"] for r in ec.values()),
             "emmett": statistics.median(r["per_s"] for r in em.values()), "ratio": ratio,
             "p50_eventcore": statistics.median(r["p50_ms"] for r in ec.values()),
             "p50_emmett": statistics.median(r["p50_ms"] for r in em.values())}
        summary.append(s)
        lines.append(f"| {clients} | {s['eventcore']:,.0f} | {s['emmett']:,.0f} | {ratio:.2f} | "
                     f"{s['p50_eventcore']:.2f} | {s['p50_emmett']:.2f} |")
    lines += ["", "Medians of the rounds; the ratio is the median of per-round ratios."]
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "peers.json"), "w") as f:
        json.dump({"summary": summary, "runs": rows}, f, indent=1)
    with open(os.path.join(a.out, "peers.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print(f"wrote {a.out}/peers.md and {a.out}/peers.json")


if __name__ == "__main__":
    sys.exit(main())
