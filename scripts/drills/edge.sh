#!/usr/bin/env bash
# Hardening drills of the HTTP edge (issue 11): reproduces the security review's numbers against
# a release build and prints them as a Markdown table.
#
#   scripts/drills/edge.sh            # builds the release binary once
#   DRILL_BIN=path/to/koolicense scripts/drills/edge.sh
#
# What it runs, everything on 127.0.0.1, about 3 minutes in all:
#   1. methods: 2,000 requests with odd method tokens (X00000Z, ...), half on random paths, half
#      on real routes, then 2,000 more; /metrics size and server RSS before, between, after;
#   2. slow:    30 connections sending a request body one byte every 3 s, for 45 s; how many the
#      server still holds at the end;
#   3. fds:     the server under `prlimit --nofile=256`, 300 such connections (at 1 byte / s,
#      reconnecting when closed) for 30 s, and a plain GET /healthz every second meanwhile
#      (one after the other: a stalled one delays the next); the slowest answer, the server's
#      peak of open descriptors, and whether the log says `Too many open files`.
# Each phase gets a fresh server (SQLite in a temp dir) with its defaults; DRILL_KEEP=1 keeps
# the temp dir, DRILL_OUT names the Markdown file (target/drills/edge.md).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${DRILL_OUT:-$TARGET_DIR/drills/edge.md}
PY="$ROOT/scripts/drills/edge.py"

say() { printf '[edge-drill] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

for tool in python3 prlimit curl; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/koolicense-drill.XXXXXX")
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}
cleanup() {
    stop_server
    if [[ "${DRILL_KEEP:-}" == 1 ]]; then say "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

if [[ -n "${DRILL_BIN:-}" ]]; then
    BIN=$DRILL_BIN
else
    say "building the release binary"
    cargo build --release --quiet
    BIN="$TARGET_DIR/release/koolicense"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_server NAME [prlimit args...]: a fresh server in $WORK/NAME; sets PORT and SERVER_PID.
start_server() {
    local name=$1
    shift
    mkdir -p "$WORK/$name"
    PORT=$(free_port)
    KOOLICENSE_LISTEN="127.0.0.1:$PORT" \
        KOOLICENSE_DATABASE_URL="sqlite://$WORK/$name/koolicense.db" \
        KOOLICENSE_KEYS_DIR="$WORK/$name/keys" \
        KOOLICENSE_WORKER=false \
        "$@" "$BIN" serve >"$WORK/$name/log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/readyz")" == 200 ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited: $(tail -5 "$WORK/$name/log")"
        sleep 0.1
    done
    die "the server did not become ready"
}

value() { grep "^$2=" "$1" | cut -d= -f2- || echo -; }

say "phase 1: 2,000 odd-method requests"
start_server methods
python3 "$PY" methods 127.0.0.1 "$PORT" "$SERVER_PID" 2000 >"$WORK/methods.txt"
stop_server

say "phase 2: 30 connections, 1 byte / 3 s, 45 s"
start_server slow
python3 "$PY" slow 127.0.0.1 "$PORT" "$SERVER_PID" 30 3 45 0 0 >"$WORK/slow.txt"
stop_server

say "phase 3: 300 slow connections under a 256-descriptor limit, 30 s, GET /healthz meanwhile"
start_server fds prlimit --nofile=256:256 --
python3 "$PY" slow 127.0.0.1 "$PORT" "$SERVER_PID" 300 1 30 1 1 >"$WORK/fds.txt"
emfile=$(grep -c 'Too many open files' "$WORK/fds/log" || true)
stop_server

m=$WORK/methods.txt
s=$WORK/slow.txt
f=$WORK/fds.txt
mkdir -p "$(dirname "$OUT")"
{
    echo "| drill | figure | result |"
    echo "|---|---|---|"
    echo "| 2,000 odd-method requests, then 2,000 more | \`/metrics\` size | $(value "$m" metrics_bytes_before) → $(value "$m" metrics_bytes_after) → $(value "$m" metrics_bytes_again) bytes |"
    echo "| | server RSS | $(value "$m" rss_kb_before) → $(value "$m" rss_kb_after) → $(value "$m" rss_kb_again) kB |"
    echo "| | \`method=\"other\"\` shown | $(value "$m" other_label) |"
    echo "| 30 connections, 1 byte / 3 s, 45 s | still held by the server at 45 s | $(value "$s" held_at_end) |"
    echo "| | closed by the server (median, longest lifetime) | $(value "$s" closed_by_server) ($(value "$s" lifetime_s_median) s, $(value "$s" lifetime_s_max) s), $(value "$s" answered_408) answered 408 |"
    echo "| 300 slow connections, 256-fd limit, 30 s | slowest GET /healthz | $(value "$f" healthz_slowest_s) s ($(value "$f" healthz_failed) of $(value "$f" healthz_probes) failed) |"
    echo "| | slow connections closed by the server (reconnecting) | $(value "$f" closed_by_server) |"
    echo "| | server's open descriptors, peak | $(value "$f" server_fds_peak) of 256 |"
    echo "| | \`Too many open files\` in the log | $emfile lines |"
} >"$OUT"
cat "$OUT"
