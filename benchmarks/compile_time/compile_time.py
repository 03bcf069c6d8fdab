#!/usr/bin/env python3
"""The compile time and peak memory of code that uses eventcore, next to a baseline revision.

    benchmarks/compile_time/compile_time.py [--baseline REV] [--runs N] [--compiler g++]

For each case (an empty file with the umbrella header, the umbrella's dependencies alone, the
README example, a service file with four commands on SQLite and PostgreSQL, and, where the tree
has them, the light headers), it compiles the file against this tree's headers and against the
baseline's (extracted with `git archive`), RUNS rounds, each of which compiles every case on
both sides: once with -fsyntax-only, once to an object file with the `ci` preset's -O2 -g. It prints a Markdown table
of medians (min-max) of CPU time (user + system) and of peak memory, and the ratios."""
import argparse
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile

here = pathlib.Path(__file__).resolve().parent
root = here.parent.parent


def measure(compiler, include, source, flags):
    """CPU seconds (user + system) and peak KB of one compile."""
    with tempfile.TemporaryDirectory() as out:
        cmd = ["/usr/bin/time", "-f", "%U %S %M", compiler, "-std=c++20", f"-I{include}", *flags, str(source)]
        if "-fsyntax-only" not in flags:
            cmd += ["-c", "-o", os.path.join(out, "out.o")]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"compile failed: {' '.join(cmd)}\n{r.stderr}")
        user, system, peak = r.stderr.strip().splitlines()[-1].split()
        return float(user) + float(system), int(peak) / 1024.0


def summary(values):
    return statistics.median(values), min(values), max(values)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--baseline", default="013bd4c", help="git revision to compare with")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--compiler", default="g++")
    args = p.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        scratch = pathlib.Path(scratch)
        base = scratch / "baseline"
        base.mkdir()
        archive = subprocess.run(["git", "-C", str(root), "archive", args.baseline, "include",
                                  "examples/quick_start.cpp"], capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        trees = {"baseline": base / "include", "now": root / "include"}

        empty = scratch / "umbrella.cpp"
        empty.write_text("#include <eventcore/eventcore.hpp>\nint main() {}\n")
        cases = {"umbrella (empty file)": {t: empty for t in trees}}
        deps = {}
        for t, inc in trees.items():
            text = subprocess.run([sys.executable, str(here / "deps.py"), args.compiler, str(inc), str(empty)],
                                  capture_output=True, text=True, check=True).stdout
            deps[t] = scratch / f"deps-{t}.cpp"
            deps[t].write_text(text)
        cases["its dependencies alone"] = deps
        if (root / "include/eventcore/core.hpp").exists():
            light = scratch / "core.cpp"
            light.write_text("#include <eventcore/core.hpp>\nint main() {}\n")
            cases["core.hpp (empty file), now"] = {"now": light}
        if (root / "include/eventcore/concepts.hpp").exists():
            light = scratch / "concepts.cpp"
            light.write_text("#include <eventcore/concepts.hpp>\nint main() {}\n")
            cases["concepts.hpp (empty file), now"] = {"now": light}
        # Each revision's own README example (the one at the baseline is that revision's).
        cases["README example"] = {"baseline": base / "examples/quick_start.cpp",
                                   "now": root / "examples/quick_start.cpp"}
        cases["four commands, SQLite and PostgreSQL"] = {t: here / "four_commands.cpp" for t in trees}

        modes = {"syntax only": ["-fsyntax-only"], "object, -O2 -g": ["-O2", "-g"]}
        # Every case and both trees in each round, so that a noisy minute of the machine falls on
        # all of them alike: the umbrella and its dependencies alone are compared with each other.
        results = {(name, mode): {t: ([], []) for t in sources} for name, sources in cases.items() for mode in modes}
        for n in range(args.runs):
            for mode, flags in modes.items():
                for name, sources in cases.items():
                    for t, source in sources.items():
                        cpu, peak = measure(args.compiler, trees[t], source, flags)
                        results[(name, mode)][t][0].append(cpu)
                        results[(name, mode)][t][1].append(peak)
            print(f"round {n + 1} of {args.runs} measured", file=sys.stderr)

    print(f"{args.compiler}, {args.runs} runs per cell, medians (min-max); baseline {args.baseline}\n")
    print("| case | mode | baseline CPU s | now CPU s | now / baseline | baseline MB | now MB |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for (name, mode), runs in results.items():
        cells = []
        for t in ("baseline", "now"):
            if t in runs:
                m, lo, hi = summary(runs[t][0])
                cells.append((f"{m:.2f} ({lo:.2f}-{hi:.2f})", m, statistics.median(runs[t][1])))
            else:
                cells.append(("-", None, None))
        ratio = f"{cells[1][1] / cells[0][1]:.2f}" if cells[0][1] and cells[1][1] else "-"
        mem = [f"{c[2]:.0f}" if c[2] else "-" for c in cells]
        print(f"| {name} | {mode} | {cells[0][0]} | {cells[1][0]} | {ratio} | {mem[0]} | {mem[1]} |")
    print()
    for t in ("baseline", "now"):
        for mode in modes:
            u = statistics.median(results[("umbrella (empty file)", mode)][t][0])
            d = statistics.median(results[("its dependencies alone", mode)][t][0])
            print(f"- {t}, {mode}: the umbrella costs {u / d:.2f}x its dependencies alone")


if __name__ == "__main__":
    main()
