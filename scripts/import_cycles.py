#!/usr/bin/env python3
"""Fails when two source files of a crate import each other, directly or
through others (docs/ARCHITECTURE.md, "Crates": no cycles between files).

A file's imports are the `crate::…`, `super::…` and `self::…` paths in its
code (comments and the test module left out), each resolved to the deepest
module file it names. Usage: scripts/import_cycles.py [repository root]
"""
import os
import re
import sys

CRATES = {"weir-dataflow": "dataflow/src", "weir-connectors": "connectors/src",
          "weir-server": "server/src", "weir": "src"}
PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")


def module_of(base, path):
    parts = os.path.relpath(path, base)[:-3].split(os.sep)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return tuple(parts)


def imports(files, module, path):
    text = open(path, encoding="utf-8").read().split("#[cfg(test)]\nmod tests")[0]
    code = "\n".join(l for l in text.split("\n") if not l.strip().startswith("//"))
    found = set()
    for m in PATH.finditer(code):
        head, rest = m.group(1), m.group(2).split("::")[1:]
        at = {"crate": (), "super": module[:-1], "self": module}[head]
        while rest and rest[0] == "super":
            at, rest = at[:-1], rest[1:]
        best, walk = (at if at in files else None), list(at)
        for segment in rest:
            walk.append(segment)
            if tuple(walk) not in files:
                break
            best = tuple(walk)
        if best is not None and best != module:
            found.add(best)
    return found


def cycles(edges):
    """Strongly connected components with more than one file (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "."
    sys.setrecursionlimit(10_000)
    failed = False
    for crate, src in CRATES.items():
        base = os.path.join(root, src)
        files = {}
        for directory, _, names in os.walk(base):
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(directory, name)
                    files[module_of(base, path)] = path
        edges = {m: imports(files, m, p) for m, p in files.items()}
        for component in cycles(edges):
            failed = True
            names = " <-> ".join(os.path.relpath(files[m], root) for m in component)
            print(f"{crate}: files import each other: {names}")
    if failed:
        sys.exit(1)
    print("no import cycles between files")


if __name__ == "__main__":
    main()
