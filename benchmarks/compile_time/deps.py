#!/usr/bin/env python3
"""Prints a translation unit that includes what the eventcore headers in FILE include from outside
eventcore (the standard library, fmt, Boost, tl::expected): the dependencies alone, as the
compiler reached them (g++ -H), so the figure it gives is what eventcore cannot do without."""
import re
import subprocess
import sys

compiler, include_dir, source = sys.argv[1], sys.argv[2], sys.argv[3]
trace = subprocess.run([compiler, "-std=c++20", "-fsyntax-only", "-H", f"-I{include_dir}", source],
                       capture_output=True, text=True).stderr
stack = []  # (depth, is_eventcore)
direct = []
for line in trace.splitlines():
    m = re.match(r"^(\.+) (.*)$", line)
    if not m:
        continue
    depth, path = len(m.group(1)), m.group(2)
    while stack and stack[-1][0] >= depth:
        stack.pop()
    ours = "/eventcore/" in path and path.startswith(include_dir)
    parent_ours = stack[-1][1] if stack else True
    if not ours and parent_ours:
        for prefix in ["/usr/include/c++/12/", "/usr/include/x86_64-linux-gnu/c++/12/", "/usr/include/"]:
            if path.startswith(prefix):
                name = path[len(prefix):]
                break
        else:
            name = path
        if name not in direct:
            direct.append(name)
    stack.append((depth, ours))
for name in direct:
    print(f"#include <{name}>")
print("int main() {}")
