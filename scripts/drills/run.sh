#!/usr/bin/env bash
# The drills at full length: kill -9 in a row (KOOLICENSE_DRILL_ROUNDS rounds per backend, 20 by
# default), two nodes on one PostgreSQL, and SIGTERM. Prints each drill's tally (also written to
# $DRILL_OUT); exits non-zero if any drill fails.
#
#   scripts/drills/run.sh
#
# They are the tests under tests/api/drills/, which `cargo test --all-targets` runs with 3 kill
# rounds; everything runs on 127.0.0.1 against real `koolicense serve` processes and the
# simulator, PostgreSQL as for the tests (127.0.0.1:5432 or TEST_POSTGRES_URL).
#
# Environment: KOOLICENSE_DRILL_ROUNDS (20), DRILL_TIMEOUT_SECS (1800: the whole run is cut off
# after that), DRILL_OUT (target/drills/drills.txt).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
ROUNDS=${KOOLICENSE_DRILL_ROUNDS:-20}
TIMEOUT=${DRILL_TIMEOUT_SECS:-1800}
OUT=${DRILL_OUT:-target/drills/drills.txt}
mkdir -p "$(dirname "$OUT")"

cargo test --test api --no-run
started=$(date +%s)
set +e
KOOLICENSE_DRILL_ROUNDS=$ROUNDS timeout "$TIMEOUT" \
  cargo test --test api drills:: -- --nocapture 2>&1 | tee "$OUT.log" |
  grep -E '^(kill|two-node|sigterm) drill|^test result|panicked'
status=${PIPESTATUS[0]}
set -e
{
  echo "drills run $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD), $ROUNDS kill rounds per backend, $(( $(date +%s) - started )) s"
  grep -E '^(kill|two-node|sigterm) drill' "$OUT.log" || true
} >"$OUT"
if [ "$status" -ne 0 ]; then
  echo "drills failed (exit $status); the full output is in $OUT.log" >&2
  exit "$status"
fi
echo "tally written to $OUT"
