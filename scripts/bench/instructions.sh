#!/usr/bin/env bash
# Instructions the server spends per request, counted by valgrind's callgrind: unlike
# throughput and CPU time on this shared 2-core host, the count is the same from run to run for
# the same binary, so two builds compare exactly. User space only (the kernel's share, loopback
# TCP and fsync, is not counted); one request at a time, SQLite on disk.
#
#   scripts/bench/instructions.sh                  # builds the release binary, 200 activations
#   BENCH_BIN=/path/to/koolicense scripts/bench/instructions.sh
#   BENCH_ACTIVATIONS=500 BENCH_TOP=40 scripts/bench/instructions.sh
#   BENCH_MODE=repeat scripts/bench/instructions.sh   # repeat activations (or checkin: check-ins)
#   BENCH_KEEP=1 scripts/bench/instructions.sh   # keeps the profile (cg.out.1) for callgrind_annotate
#
# BENCH_MODE (first | repeat | checkin) is the request measured: first activations of new codes,
# or repeat activations or check-ins of the codes the first activations bound (each mode after a
# warm-up of its own). Prints the instructions per request and, of the measured requests alone,
# the inclusive counts of the service's, the database's and the signing's functions.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
N=${BENCH_ACTIVATIONS:-200}
TOP=${BENCH_TOP:-25}
WARM=20
MODE=${BENCH_MODE:-first}
case "$MODE" in first | repeat | checkin) ;; *) echo "BENCH_MODE is first, repeat or checkin" >&2; exit 2 ;; esac
say() { printf '[instructions] %s\n' "$*" >&2; }

command -v valgrind >/dev/null || { say "installing valgrind"; apt-get install -y -qq valgrind >/dev/null; }
if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN=$BENCH_BIN
else
    (cd "$ROOT" && cargo build --release --bin koolicense >&2)
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/koolicense"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/koolicense-instructions.XXXXXX")
SIM_PID="" SERVER_PID=""
cleanup() {
    for pid in "$SERVER_PID" "$SIM_PID"; do
        [[ -n "$pid" ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    done
    [[ "${BENCH_KEEP:-0}" == 1 ]] && say "kept $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
SIM="http://127.0.0.1:$(free_port)"
URL="http://127.0.0.1:$(free_port)"

RUST_LOG=warn "$BIN" sim serve --listen "${SIM#http://}" --ak ak --sk sk >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
mkdir -p "$WORK/keys"
env KOOLICENSE_LISTEN="${URL#http://}" KOOLICENSE_DATABASE_URL="sqlite://$WORK/k.db" \
    KOOLICENSE_KEYS_DIR="$WORK/keys" KOOLICENSE_MARKETPLACE_URL="$SIM" \
    KOOLICENSE_MARKETPLACE_FALLBACK_URL="$SIM" KOOLICENSE_APIG_AK=ak KOOLICENSE_APIG_SK=sk \
    KOOLICENSE_RATE_LIMIT_PER_MINUTE=4000000000 KOOLICENSE_HTTP_WORKERS=1 \
    valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 300); do
    curl -s -o /dev/null "$URL/healthz" && break
    sleep 0.3
done
curl -s -o /dev/null "$URL/healthz" || { tail -20 "$WORK/server.log" >&2; say "the server did not start"; exit 1; }

for i in $(seq 0 $((N + WARM - 1))); do
    curl -s -o /dev/null -X POST "$SIM/sim/codes" -H 'content-type: application/json' \
        -d "{\"code\":\"INSTR$i\",\"status\":\"ALIVE\",\"claimed\":true,\"expire_time\":\"20991201000000\",\"product_id\":\"P\",\"order_id\":\"O-$i\",\"amount\":1}"
done
fingerprint() { echo "02:42:AC:11:00:01|DISK-$1|BOARD|CPU"; }
activate() { # INDEX: prints the status
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/activate" -H 'content-type: application/json' \
        -d "{\"code\":\"INSTR$1\",\"fingerprint\":\"$(fingerprint "$1")\",\"hostname\":\"h\"}"
}
check_in() { # INDEX: prints the status
    curl -s -o /dev/null -w '%{http_code}\n' -X POST "$URL/v1/check-in" -H 'content-type: application/json' \
        -d "{\"code\":\"INSTR$1\",\"fingerprint\":\"$(fingerprint "$1")\"}"
}
# measure EXPECTED REQUEST: REQUEST of codes 0..N-1 counted, after a warm-up on the others.
measure() {
    local i answered=0
    for i in $(seq "$N" $((N + WARM - 1))); do "$2" "$i" >/dev/null; done
    callgrind_control --zero "$SERVER_PID" >/dev/null 2>&1
    for i in $(seq 0 $((N - 1))); do
        [[ "$("$2" "$i")" == "$1" ]] && answered=$((answered + 1))
    done
    callgrind_control --dump "$SERVER_PID" >/dev/null 2>&1
    [[ "$answered" == "$N" ]] || { say "only $answered of $N requests ($2) answered $1"; exit 1; }
}
case "$MODE" in
    first) measure 201 activate ;;
    repeat)
        for i in $(seq 0 $((N + WARM - 1))); do activate "$i" >/dev/null; done
        measure 200 activate
        ;;
    checkin)
        for i in $(seq 0 $((N + WARM - 1))); do activate "$i" >/dev/null; done
        # A code's first check-in of the day asks the marketplace (unmeasured, as in http-load.sh).
        for i in $(seq 0 $((N + WARM - 1))); do check_in "$i" >/dev/null; done
        measure 200 check_in
        ;;
esac
sleep 1
PROFILE="$WORK/cg.out.1"
total=$(callgrind_annotate "$PROFILE" | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
built=${BENCH_BIN:-commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)}
case "$MODE" in first) what="first activation" ;; repeat) what="repeat activation" ;; *) what=check-in ;; esac
echo "instructions per $what: $((total / N)) ($N requests, $built)"
# The parts of a request worth reading (the runtime's and the HTTP stack's frames left out).
callgrind_annotate --inclusive=yes "$PROFILE" | grep -E '^ *[0-9,]+ \(' |
    grep -E 'koolicense::(service|db|licensing|koogallery|api::(activate|check_in|signed))|ed25519_dalek::signing|keys::KeyStore::sign|sqlite3_step|sha512::compress512|malloc\.c:(malloc|free)|serde_json::ser' |
    head -n "$TOP"
