#!/usr/bin/env bash
# Runs every fuzz target (or the TARGETs given) for SECONDS each (default 300) on stable Rust
# (cargo-fuzz -s none), usage: ./run-all.sh [SECONDS [TARGET...]],
# growing and minimising the committed corpora in corpus/<target> (evtx and evtx_direct:
# corpus-<target>.tar.gz). Install once: cargo install cargo-fuzz --locked
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-300}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(json json_differential evtx evtx_direct syslog framing cef leef sigma_rule correlation yaml query regex_existence csrf)
fi
status=0
# The EVTX corpora (whole files and chunks, mostly empty space) are kept compressed in git.
for packed in evtx evtx_direct; do
  if [ ! -d "corpus/$packed" ] && [ -f "corpus-$packed.tar.gz" ]; then
    tar xzf "corpus-$packed.tar.gz" -C corpus
  fi
done
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: ${seconds}s"
  if ! cargo fuzz run -s none "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -max_len=131072 -timeout=10 -rss_limit_mb=2048 \
    >"/tmp/vigie-fuzz-$target.log" 2>&1; then
    echo "!! $target failed: see /tmp/vigie-fuzz-$target.log and artifacts/$target"
    status=1
  fi
  tail -n 2 "/tmp/vigie-fuzz-$target.log"
  # Keep the committed corpus small: only inputs that add coverage.
  cargo fuzz cmin -s none "$target" "corpus/$target" >/dev/null 2>&1 || true
done
for packed in evtx evtx_direct; do
  tar czf "corpus-$packed.tar.gz" -C corpus "$packed"
done
exit $status
