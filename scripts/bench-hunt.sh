#!/usr/bin/env bash
# Measures `vigie hunt` on real-EVTX corpora of the issue's two sizes (8,255 and 107,315
# events, ~30 records per chunk, one chunk per file: the shape of EVTX-ATTACK-SAMPLES), with
# all the windows rules. Prints wall time, CPU time and peak memory of each run.
#
#   scripts/bench-hunt.sh [RUNS]        (default 5 runs per size; needs GNU time, /usr/bin/time)
#
# Corpora are built once by `vigie bench corpus` under $VIGIE_BENCH_DIR (default
# target/bench-corpus) from ../shared/sigma/regression.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
shared="${VIGIE_SHARED:-../shared/sigma}"
dir="${VIGIE_BENCH_DIR:-target/bench-corpus}"
cargo build --release --locked -q -p vigie
vigie="${CARGO_TARGET_DIR:-target}/release/vigie"
for events in 8255 107315; do
    if [ ! -d "$dir/$events" ]; then
        "$vigie" bench corpus --from "$shared/regression" --events "$events" "$dir/$events"
    fi
done
for events in 8255 107315; do
    for format in jsonl table; do
        echo "== $events events, --format $format, $runs runs"
        for _ in $(seq "$runs"); do
            /usr/bin/time -f "wall %e s  user %U s  sys %S s  max RSS %M KiB" \
                "$vigie" hunt --rules "$shared/rules/windows" --format "$format" "$dir/$events" \
                2>&1 >/dev/null | grep -E "^(wall|hunt|detections)" | tr '\n' ' '
            echo
        done
    done
done
