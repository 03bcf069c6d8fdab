#!/usr/bin/env python3
"""Runs the bank demo on a fresh SQLite file with small parameters and checks what a newcomer is
shown before the load run (one commit to two streams; a conflict and its retry, with versions
that agree with each other) and the two pictures it writes next to the store: well-formed SVG
files, holding the run's figures. Standard library only.

    check_bank_demo.py DEMO WORKDIR
"""

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET

THREADS, TRANSFERS, SAMPLES = 2, 100, 10
SVG = "{http://www.w3.org/2000/svg}"


def fail(message, output=""):
    if output:
        print(output)
    print(f"check_bank_demo: {message}", file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        fail("usage: check_bank_demo.py DEMO WORKDIR")
    demo, workdir = sys.argv[1], sys.argv[2]
    os.makedirs(workdir, exist_ok=True)
    store = os.path.join(workdir, "pictures.db")
    for name in os.listdir(workdir):  # a fresh store, and no pictures left from an earlier run
        if name.startswith("pictures"):
            os.remove(os.path.join(workdir, name))

    env = {k: v for k, v in os.environ.items() if k != "EVENTCORE_PG"}  # SQLite rows alone
    run = subprocess.run([demo, store, "--threads", str(THREADS), "--transfers", str(TRANSFERS),
                          "--latency-samples", str(SAMPLES)], capture_output=True, text=True, timeout=600, env=env)
    out = run.stdout
    if run.returncode != 0:
        fail(f"the demo exited with {run.returncode}: {run.stderr}", out)

    # 1. One command, two streams, one commit: written versions follow the versions read.
    commit = re.search(r"read   (account-\d+) @ v(\d+) \(balance \d+\), (account-\d+) @ v(\d+) \(balance \d+\)\n"
                       r"\s+wrote  MoneyWithdrawn to \1 \(v(\d+)\), MoneyDeposited to \3 \(v(\d+)\)\n"
                       r"\s+in one commit at log positions (\d+)-(\d+)", out)
    if not commit:
        fail("no multi-stream commit shown (read ... @ v, wrote ... to both, in one commit)", out)
    read_from, read_to, wrote_from, wrote_to, first, last = map(int, commit.group(2, 4, 5, 6, 7, 8))
    if (wrote_from, wrote_to, last) != (read_from + 1, read_to + 1, first + 1):
        fail(f"the commit's figures disagree: {commit.group(0)!r}", out)

    # 2. The race: refused at the version read, read again at the version found, two attempts.
    race = re.search(r"attempt 1  read   (account-\d+) @ v(\d+) .*\n"
                     r".*meanwhile TransferMoney .* commits first \(\1 now @ v(\d+)\)\n"
                     r"\s+commit refused: version conflict on \1 \(expected v\2, found v\3\); nothing written\n"
                     r".*\n"
                     r"\s+attempt 2  read   \1 @ v\3 .*decided again.*\n"
                     r"\s+wrote  MoneyWithdrawn to \1 \(v(\d+)\), MoneyDeposited to account-\d+ \(v\d+\)\n"
                     r".*\n"
                     r"\s+committed in 2 attempts", out)
    if not race:
        fail("no conflict-then-retry shown (attempt 1 refused on a version conflict, attempt 2 reading again)", out)
    if int(race.group(4)) != int(race.group(3)) + 1:
        fail(f"the retry's commit does not follow the version it read: {race.group(0)!r}", out)
    if "Expected: " not in out or "Cost here: " not in out:
        fail("the load run's conflict figures have no context beside them", out)

    # 3. The pictures, next to the store, linked from the output.
    linked = dict(re.findall(r"^  (latency by streams per command|attempts per transfer)\s+(\S+)$", out, re.M))
    expected = {"latency by streams per command": os.path.join(workdir, "pictures-latency.svg"),
                "attempts per transfer": os.path.join(workdir, "pictures-attempts.svg")}
    for what, path in expected.items():
        if what not in linked or os.path.realpath(linked[what]) != os.path.realpath(path):
            fail(f"the output does not link the {what} picture at {path}", out)
    trees = {}
    for what, path in expected.items():
        try:
            trees[what] = ET.parse(path).getroot()
        except (OSError, ET.ParseError) as e:
            fail(f"{path} is not well-formed XML: {e}")
        if trees[what].tag != SVG + "svg":
            fail(f"{path}: the root element is {trees[what].tag}, not svg")

    lines = trees["latency by streams per command"].findall(SVG + "polyline")
    if len(lines) != 2 or any(len(line.get("points").split()) != 4 for line in lines):
        fail("the latency picture should have a p50 and a p99 line of 4 points (1, 5, 10, 50 streams)")

    counts = [int(t.text) for t in trees["attempts per transfer"].iter(SVG + "text") if t.get("class") == "count"]
    if sum(counts) != THREADS * TRANSFERS:
        fail(f"the attempts histogram counts {sum(counts)} transfers, the run made {THREADS * TRANSFERS}")
    print(f"check_bank_demo: commit, retry and both pictures as expected ({len(counts)} bars)")


if __name__ == "__main__":
    main()
