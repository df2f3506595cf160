#!/usr/bin/env python3
"""Lists module import cycles inside each crate of the workspace.

    python3 scripts/check-cycles.py [ROOT]

Every `.rs` file under `crates/*/src` is a module (`engine/compile.rs` is `engine::compile`,
`engine/mod.rs` is `engine`). A path `crate::a::b::…`, `super::…` or `self::…` in a file is a
use of the deepest module it names. A use from module X of module Y counts as an edge between
the two siblings under their closest common parent (X inside `engine::scan` using
`engine::memo` is `scan -> memo` among the children of `engine`); a module using its own
descendants or ancestors is not an edge. Cycles are the strongly connected components of
more than one sibling. Test modules (`tests.rs`, `#[cfg(test)]` blocks) are skipped: a test
may reach anywhere; so are comments (a doc link is not a dependency).

Exit 1 when a crate has a cycle, listing its members.
"""
import pathlib
import re
import sys
from collections import defaultdict

PATH = re.compile(r"\b(crate|super|self)((?:::\w+)+)")
USE_GROUP = re.compile(r"\buse\s+(crate|super|self)((?:::\w+)*)::\{([^;]*)\};", re.S)


def module_of(src: pathlib.Path, file: pathlib.Path) -> tuple:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts.pop()
    return tuple(parts)


def without_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod … { … }` blocks (brace matching, good enough for our style)."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def resolve(here: tuple, root: str, rest: list, modules: set) -> tuple:
    if root == "crate":
        base = ()
    else:
        # In `a/b.rs` (module a::b) `self` is a::b and `super` is a; in `a/mod.rs` the same.
        base = here
        if root == "super":
            base = here[:-1]
    path = base + tuple(rest)
    while path and path not in modules:
        path = path[:-1]
    return path


def edges_of(src: pathlib.Path, modules: set):
    for file in src.rglob("*.rs"):
        if file.name == "tests.rs":
            continue
        here = module_of(src, file)
        # Comments (doc links included) name modules without using them.
        code = re.sub(r"//[^\n]*", "", file.read_text())
        text = without_tests(code)
        uses = []
        for m in USE_GROUP.finditer(text):
            prefix = [p for p in m.group(2).split("::") if p]
            for item in re.split(r"[,\s]+", m.group(3)):
                item = item.strip("{} ")
                if item and item not in ("self", "*"):
                    uses.append((m.group(1), prefix + item.split("::")[:1]))
        for m in PATH.finditer(text):
            uses.append((m.group(1), [p for p in m.group(2).split("::") if p]))
        for root, rest in uses:
            target = resolve(here, root, rest, modules)
            yield here, target


def cycles(src: pathlib.Path) -> list:
    modules = {module_of(src, f) for f in src.rglob("*.rs")}
    graph = defaultdict(set)
    for a, b in edges_of(src, modules):
        n = 0
        while n < min(len(a), len(b)) and a[n] == b[n]:
            n += 1
        if n == len(a) or n == len(b):
            continue  # ancestor or descendant
        parent = a[:n]
        graph[(parent, a[n])].add((parent, b[n]))
    found, index, low, stack, on, counter = [], {}, {}, [], set(), [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                strong(w)
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
                found.append(component)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            strong(v)
    return found


def main() -> int:
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parent.parent)
    total = 0
    for src in sorted(root.glob("crates/*/src")):
        for component in cycles(src):
            parent = "::".join(component[0][0]) or "crate root"
            names = ", ".join(sorted(c[1] for c in component))
            print(f"{src.parent.name}: cycle under {parent}: {names}", file=sys.stderr)
            total += 1
    if total:
        return 1
    print("cycles: no module of any crate imports one that imports it back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
