#!/usr/bin/env python3
"""Checks the workspace's layering: no crate depends on one above it in the crate table, and
the offline commands (`vigie hunt`, `decode`, `rules`) build without the server.

    python3 scripts/check-layers.py

1. Reads each crate's Cargo.toml ([dependencies], normal ones only: dev-dependencies may
   reach anywhere) and checks every `vigie-*` dependency against ALLOWED below, the table
   of ARCHITECTURE.md.
2. Runs `cargo tree -p vigie --no-default-features -e normal` (the binary with only its
   offline commands) and fails if axum, hyper, sqlx, tokio or vigie-server appear in it.
3. Counts the `thiserror::Error` derives of each library crate: one error enum per crate.

Exit 1 with the offending edges listed; 0 when the layering holds.
"""
import pathlib
import re
import subprocess
import sys

# crate -> the workspace crates it may depend on (ARCHITECTURE.md, "Crates").
ALLOWED = {
    "vigie-event": set(),
    "vigie-sigma": {"vigie-event"},
    "vigie-intel": {"vigie-event"},
    "vigie-detect": {"vigie-event", "vigie-sigma", "vigie-intel"},
    "vigie-store": {"vigie-event"},
    "vigie-journal": {"vigie-event"},
    "vigie-govern": {"vigie-event"},
    "vigie-state": {"vigie-event", "vigie-govern"},
    # A dev-dependency of the libraries; only the binary may list it in [dependencies].
    "vigie-testkit": {"vigie-event"},
    "vigie-server": {
        "vigie-event", "vigie-sigma", "vigie-intel", "vigie-detect", "vigie-store",
        "vigie-journal", "vigie-govern", "vigie-state",
    },
    "vigie": {
        "vigie-event", "vigie-sigma", "vigie-intel", "vigie-detect", "vigie-store",
        "vigie-journal", "vigie-govern", "vigie-state", "vigie-server", "vigie-testkit",
    },
}
OFFLINE_FORBIDDEN = ["axum", "hyper", "sqlx", "tokio", "vigie-server", "vigie-state"]


def dependencies(manifest: pathlib.Path) -> set:
    deps, section = set(), None
    for line in manifest.read_text().splitlines():
        header = re.match(r"^\[(.+)\]\s*$", line)
        if header:
            section = header.group(1)
            continue
        if section == "dependencies":
            m = re.match(r"^(vigie[-\w]*)\s*[.=]", line)
            if m:
                deps.add(m.group(1))
    return deps


def main() -> int:
    root = pathlib.Path(__file__).resolve().parent.parent
    problems = []
    for manifest in sorted(root.glob("crates/*/Cargo.toml")):
        name = re.search(r'^name\s*=\s*"([^"]+)"', manifest.read_text(), re.M).group(1)
        if name not in ALLOWED:
            problems.append(f"{name}: not in the crate table (add it to ALLOWED and ARCHITECTURE.md)")
            continue
        for dep in sorted(dependencies(manifest) - ALLOWED[name]):
            problems.append(f"{name} -> {dep}: not allowed by the crate table")
    for src in sorted(root.glob("crates/*/src")):
        if src.parent.name == "cli":
            continue  # the binary uses anyhow
        derives = [
            f"{path.relative_to(root)}"
            for path in src.rglob("*.rs")
            for _ in re.finditer(r"derive\([^)]*thiserror::Error", path.read_text())
        ]
        if len(derives) > 1:
            problems.append(f"{src.parent.name}: {len(derives)} error types ({', '.join(derives)}): one enum per crate")
    tree = subprocess.run(
        ["cargo", "tree", "-p", "vigie", "--no-default-features", "-e", "normal",
         "--prefix", "none", "--format", "{p}"],
        cwd=root, capture_output=True, text=True,
    )
    if tree.returncode != 0:
        problems.append("cargo tree failed: " + tree.stderr.strip()[-500:])
    else:
        names = {line.split()[0] for line in tree.stdout.splitlines() if line.strip()}
        for crate in OFFLINE_FORBIDDEN:
            if crate in names:
                problems.append(f"offline build of vigie links {crate}")
    for p in problems:
        print(f"layers: {p}", file=sys.stderr)
    if not problems:
        print("layers: every dependency points down the crate table; one error enum per library; "
              "the offline build links none of " + ", ".join(OFFLINE_FORBIDDEN))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
