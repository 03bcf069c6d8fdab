#!/usr/bin/env python3
"""Compiles every complete C++ example of the manual, so that a doc example cannot rot.

The convention (see CONTRIBUTING.md):
- A block fenced ```cpp is a complete translation unit: it includes what it uses and compiles
  as it stands (with the library's include paths, -std=c++20 and the project's warnings).
- A block fenced ```cpp fragment is part of a larger program (a signature, a few statements
  that need the surrounding page): it is skipped.
Any other word after `cpp` is refused, so that a misspelt marker does not skip a block silently.

Each complete block is written to its own .cpp file, starting with a #line directive, so that a
diagnostic names the Markdown file and line; then each is compiled with -fsyntax-only, two at a
time. Exits non-zero, naming each block that failed, if any block does not compile or if no
complete block was found at all.

Usage: check_doc_examples.py --compiler CXX --flags FILE --out DIR (FILE.md | DIR)...
"""

import argparse
import concurrent.futures
import os
import pathlib
import re
import subprocess
import sys
import time

FENCE = re.compile(r"^(\s*)(```+)\s*(\S*)(.*)$")


def blocks(path):
    """Yields (line of the first code line, info words, code) for each ```cpp block of path."""
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent, fence, lang, rest = m.groups()
        start = i + 1
        i += 1
        body = []
        while i < len(lines) and not re.match(r"^\s*" + fence + r"\s*$", lines[i]):
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{path}:{start}: code block never closed")
        i += 1
        if lang == "cpp":
            yield start + 1, rest.split(), "\n".join(body) + "\n"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--compiler", required=True)
    parser.add_argument("--flags", required=True, help="file with one compiler flag per line")
    parser.add_argument("--out", required=True, help="folder for the extracted sources")
    parser.add_argument("--root", default=".", help="paths in diagnostics are relative to this")
    parser.add_argument("--implicit-includes", default="",
                        help="the compiler's own include folders, ;-separated: not passed again with -I "
                             "(an -I/usr/include breaks the standard library's #include_next)")
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("EVENTCORE_DOCS_JOBS", "2")))
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()

    implicit = {"-I" + d for d in args.implicit_includes.split(";") if d}
    flags = []
    for flag in pathlib.Path(args.flags).read_text().splitlines():
        if flag.strip() and flag not in implicit and flag not in flags:
            flags.append(flag)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.cpp"):
        old.unlink()

    sources, fragments, problems = [], 0, []
    root = pathlib.Path(args.root).resolve()
    files = []
    for name in args.files:
        given = pathlib.Path(name)
        files += sorted(given.glob("*.md")) if given.is_dir() else [given]
    for path in files:
        path = path.resolve()
        shown = os.path.relpath(path, root)
        for line, words, code in blocks(path):
            if words == ["fragment"]:
                fragments += 1
                continue
            if words:
                problems.append(f"{shown}:{line - 1}: unknown marker after ```cpp: {' '.join(words)!r} "
                                "(a fragment is fenced ```cpp fragment)")
                continue
            source = out / f"{re.sub(r'[^A-Za-z0-9]+', '_', shown)}_{line}.cpp"
            source.write_text(f'#line {line} "{shown}"\n{code}', encoding="utf-8")
            sources.append((f"{shown}:{line - 1}", source))

    if not sources:
        problems.append("no complete ```cpp block found: the test would prove nothing")

    def compile_one(item):
        where, source = item
        result = subprocess.run([args.compiler, "-std=c++20", "-fsyntax-only", *flags, str(source)],
                                capture_output=True, text=True)
        return where, result.returncode, result.stdout + result.stderr

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        for where, status, output in pool.map(compile_one, sources):
            if status != 0:
                problems.append(f"{where}: the example does not compile:\n{output}")
    elapsed = time.monotonic() - started

    print(f"{len(sources)} complete examples compiled, {fragments} fragments skipped, "
          f"{elapsed:.1f} s with {args.jobs} jobs")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
