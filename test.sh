#!/usr/bin/env bash
# The test command (README): every test of every crate, with the lock file as committed.
set -euo pipefail
cd "$(dirname "$0")"
exec cargo test --workspace --locked "$@"
