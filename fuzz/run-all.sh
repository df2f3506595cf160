#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 300) on stable Rust (cargo-fuzz -s none),
# growing the committed corpora in corpus/<target>. Install once: cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
status=0
for target in json evtx syslog framing cef leef; do
  mkdir -p "corpus/$target"
  echo "== $target: ${seconds}s"
  if ! cargo fuzz run -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
    >"/tmp/vigie-fuzz-$target.log" 2>&1; then
    echo "!! $target failed: see /tmp/vigie-fuzz-$target.log and artifacts/$target"
    status=1
  fi
  tail -n 2 "/tmp/vigie-fuzz-$target.log"
done
exit $status
