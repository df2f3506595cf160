#!/usr/bin/env bash
# Compares the reports of two `vigie` builds, byte for byte: the hunt fixtures, and the
# SigmaHQ regression EVTX with every Windows rule (plus correlations over them), in each
# report format and with the selection options. For refactors that must not change what
# `vigie hunt` reports.
#
#   scripts/compare-hunt.sh OLD_VIGIE NEW_VIGIE
#
# Exits 1 and shows the first differing lines when a report differs.
set -euo pipefail
cd "$(dirname "$0")/.."
old="$1"
new="$2"
shared="${VIGIE_SHARED:-../shared/sigma}"
fixtures=crates/cli/tests/fixtures/hunt
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Correlations over frequent rules of the regression data: a count, a distinct count and an
# average (a fractional value), so that correlation values of every shape are compared.
mkdir -p "$work/correlations"
cat > "$work/correlations/c.yml" <<'YAML'
title: Many process creations on one computer
id: 7d0f3c52-0a8e-4f4e-9b51-000000000001
correlation:
  type: event_count
  rules: [process_creation_any]
  group-by: [Computer]
  timespan: 1h
  condition: {gte: 2}
level: high
---
title: Processes launching
name: process_creation_any
logsource: {category: process_creation, product: windows}
detection:
  s: {Image|contains: '\'}
  condition: s
level: low
---
title: Several distinct images per computer
id: 7d0f3c52-0a8e-4f4e-9b51-000000000002
correlation:
  type: value_count
  rules: [process_creation_any]
  group-by: [Computer]
  timespan: 1d
  condition: {gte: 2, field: Image}
level: medium
generate: true
---
title: Average process id
id: 7d0f3c52-0a8e-4f4e-9b51-000000000003
correlation:
  type: value_avg
  rules: [process_creation_any]
  group-by: [Computer]
  timespan: 1d
  condition: {gte: 1, field: ProcessId}
level: informational
YAML

runs=(
  "fixtures-jsonl|--rules $fixtures/rules --format jsonl $fixtures/logs"
  "fixtures-csv|--rules $fixtures/rules --format csv $fixtures/logs"
  "fixtures-table|--rules $fixtures/rules --format table $fixtures/logs"
  "fixtures-min-level|--rules $fixtures/rules --format csv --min-level critical $fixtures/logs"
  "regression-jsonl|--rules $shared/rules/windows --format jsonl $shared/regression"
  "regression-csv|--rules $shared/rules/windows --format csv $shared/regression"
  "regression-high|--rules $shared/rules/windows --format jsonl --min-level high $shared/regression"
  "correlations-jsonl|--rules $shared/rules/windows --rules $work/correlations --format jsonl $shared/regression"
  "correlations-csv|--rules $shared/rules/windows --rules $work/correlations --format csv $shared/regression"
)
failed=0
for run in "${runs[@]}"; do
  name="${run%%|*}"
  args="${run#*|}"
  # shellcheck disable=SC2086
  "$old" hunt $args >"$work/$name.old" 2>/dev/null || true
  # shellcheck disable=SC2086
  "$new" hunt $args >"$work/$name.new" 2>/dev/null || true
  if cmp -s "$work/$name.old" "$work/$name.new"; then
    printf '%-22s identical (%s lines)\n' "$name" "$(wc -l <"$work/$name.new")"
  else
    printf '%-22s DIFFERENT\n' "$name"
    diff "$work/$name.old" "$work/$name.new" | head -8
    failed=1
  fi
done
exit "$failed"
