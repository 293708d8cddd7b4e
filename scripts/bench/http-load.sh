#!/usr/bin/env bash
# HTTP load benchmark of the client API against a release build, with its ceilings measured in
# the same run. Prints a Markdown table (also written to $BENCH_OUT).
#
#   scripts/bench/http-load.sh                           # SQLite, the embedded default
#   BENCH_DATABASE=postgres scripts/bench/http-load.sh   # PostgreSQL, one node and then two
#
# What it does, everything on 127.0.0.1 and bounded in time:
#   1. installs wrk when missing (Debian package), builds the release binary once
#      (cargo build --release) and the criterion benches (cargo bench shares the release build);
#   2. ceilings without HTTP: Ed25519 signatures/s on one core and single-row durable SQLite
#      commits/s (criterion, benches/license.rs and benches/sqlite.rs, temp dir on this disk);
#      on PostgreSQL instead: the database's own ceilings, `pgbench -S` (select only) and `-N`
#      (simple update, each transaction committed with synchronous_commit as the server has it),
#      BENCH_PGBENCH_CLIENTS clients, against a scratch database made and dropped by the script;
#   3. starts `koolicense sim serve` (the marketplace) and `koolicense serve` (SQLite on disk in a
#      temp dir, WAL + synchronous=FULL as always; or a scratch PostgreSQL database), loads
#      BENCH_CODES codes into the simulator;
#   4. runs wrk phases, BENCH_CONNECTIONS connections each, BENCH_DURATION seconds each:
#        healthz  GET /healthz on the same server: the empty actix-web JSON handler (ceiling)
#        sim      the simulator alone: its open API (POST .../v1/license/heartbeat, the query
#                 of a code), AK/SK-signed once by this script (valid 15 minutes) (ceiling)
#        first    POST /v1/activate, every request a code of its own (a marketplace call each)
#        repeat   POST /v1/activate of already bound (code, fingerprint) pairs
#        checkin  POST /v1/check-in of those
#      every phase but healthz and sim gets an unmeasured warm-up first (first activations one
#      second on codes of their own: connections open; the day's first check-in of a code
#      queries the marketplace once, as the spec wants);
#      on PostgreSQL, then again with BENCH_NODES nodes on the same database (one wrk per node,
#      the connections split between them; first activations take disjoint codes);
#   5. records the server's RSS: idle before and after the load, the peak during each phase
#      (sampled from /proc/PID/status every 0.2 s) and VmHWM; stops everything (trap).
#
# Environment: BENCH_DATABASE (sqlite | postgres), BENCH_PG_URL (the server to use,
# postgres://postgres@127.0.0.1:5432), BENCH_PGBENCH_CLIENTS (16), BENCH_NODES (2; postgres
# only, 1 skips the multi-node phases), BENCH_DURATION (10), BENCH_CONNECTIONS (64), BENCH_THREADS (wrk threads, 2),
# BENCH_CODES (codes loaded, 200000: each half, one node's and two nodes', lasts 10 s at 9,500
# first activations/s),
# BENCH_POOL (codes repeat/checkin cycle over, 1000), BENCH_SKIP_CRITERION=1 (no ceilings from
# criterion), BENCH_BIN (a koolicense binary to run instead of building one), BENCH_KEEP=1 (keep
# the temp dir and the scratch databases), BENCH_OUT (Markdown output file,
# target/bench/http-load.md), BENCH_PERF (phases to profile, comma-separated, e.g.
# "repeat,checkin": `perf record` of the whole machine during each, its report in NAME.perf.txt
# next to BENCH_OUT), server settings via the usual KOOLICENSE_* variables
# (KOOLICENSE_HTTP_WORKERS, KOOLICENSE_DB_POOL_SIZE, ...).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
DURATION=${BENCH_DURATION:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-64}
THREADS=${BENCH_THREADS:-2}
CODES=${BENCH_CODES:-200000}
POOL=${BENCH_POOL:-1000}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
OUT=${BENCH_OUT:-$TARGET_DIR/bench/http-load.md}
OUT_DIR=$(dirname "$OUT")
mkdir -p "$OUT_DIR"
LUA="$ROOT/scripts/bench/load.lua"
AK=sim-ak
SK=sim-sk
PREFIX=BENCH
DATABASE=${BENCH_DATABASE:-sqlite}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432}
PGBENCH_CLIENTS=${BENCH_PGBENCH_CLIENTS:-16}
NODES=${BENCH_NODES:-2}
[[ "$DATABASE" == sqlite || "$DATABASE" == postgres ]] || { echo "BENCH_DATABASE is sqlite or postgres" >&2; exit 2; }
[[ "$DATABASE" == postgres ]] || NODES=1
# First activations of one node take the first half of the codes, the nodes together the rest.
HALF=$((CODES / 2))

say() { printf '[http-load] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/koolicense-bench.XXXXXX")
SIM_PID=""
SERVER_PID=""
SERVER2_PID=""
SAMPLER_PID=""
SCRATCH_DBS=()
cleanup() {
    local pid db
    for pid in "$SAMPLER_PID" "$SERVER2_PID" "$SERVER_PID" "$SIM_PID"; do
        if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    for db in "${SCRATCH_DBS[@]}"; do
        [[ "${BENCH_KEEP:-0}" == 1 ]] && { say "kept database $db"; continue; }
        psql -q "$PG_URL/postgres" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || true
    done
    if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
        say "kept $WORK"
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    say "installing wrk"
    if ! apt-get install -y -qq wrk >/dev/null 2>&1; then
        apt-get update -qq >/dev/null && apt-get install -y -qq wrk >/dev/null
    fi
fi
for tool in wrk curl openssl sha256sum awk; do
    command -v "$tool" >/dev/null || die "$tool is required"
done
if [[ "$DATABASE" == postgres ]]; then
    for tool in psql pgbench; do
        command -v "$tool" >/dev/null || die "$tool is required (Debian: postgresql-client)"
    done
    pg_isready -q -d "$PG_URL/postgres" || die "no PostgreSQL at $PG_URL"
fi
scratch_db() { # NAME: a fresh database on $PG_URL, dropped on exit
    psql -q "$PG_URL/postgres" -c "CREATE DATABASE \"$1\"" >/dev/null || die "cannot create database $1"
    SCRATCH_DBS+=("$1")
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
        echo $((20000 + RANDOM % 20000))
}

# --- build once ----------------------------------------------------------------------------
if [[ -n "${BENCH_BIN:-}" ]]; then
    BIN=$BENCH_BIN
else
    say "building the release binary"
    cargo build --release --bin koolicense >&2
    BIN="$TARGET_DIR/release/koolicense"
fi
[[ -x "$BIN" ]] || die "no binary at $BIN"

# --- ceilings without HTTP -------------------------------------------------------------------
ED25519_PER_S=""
COMMIT1_PER_S=""
COMMIT16_ROWS_PER_S=""
if [[ "${BENCH_SKIP_CRITERION:-0}" != 1 ]]; then
    say "criterion ceilings (Ed25519 on one core, durable SQLite commits)"
    # --output-format bencher prints `test NAME ... bench: N ns/iter (+/- M)`.
    cargo bench --bench license --bench sqlite -- --output-format bencher \
        --warm-up-time 1 --measurement-time 3 'ed25519_sign|durable_commit' \
        >"$WORK/criterion.txt" 2>"$WORK/criterion.err" ||
        { cat "$WORK/criterion.err" >&2; die "cargo bench failed"; }
    per_s() { # NAME [elements per iteration]
        awk -v name="$1" -v n="${2:-1}" '$1 == "test" && $2 == name {
            gsub(",", "", $5); printf "%.0f", n * 1e9 / $5 }' "$WORK/criterion.txt"
    }
    ED25519_PER_S=$(per_s license/ed25519_sign)
    COMMIT1_PER_S=$(per_s sqlite/durable_commit_1_rows)
    COMMIT16_ROWS_PER_S=$(per_s sqlite/durable_commit_16_rows 16)
    say "Ed25519 ${ED25519_PER_S}/s, durable commits ${COMMIT1_PER_S}/s (16-row commits: ${COMMIT16_ROWS_PER_S} rows/s)"
fi

PGBENCH_S_TPS=""
PGBENCH_N_TPS=""
if [[ "$DATABASE" == postgres ]]; then
    say "PostgreSQL ceilings: pgbench -S and -N, $PGBENCH_CLIENTS clients, ${DURATION} s each"
    PGBENCH_DB="koolicense_pgbench_$$"
    scratch_db "$PGBENCH_DB"
    pgbench -q -i -s 10 "$PG_URL/$PGBENCH_DB" >"$WORK/pgbench-init.txt" 2>&1 ||
        { cat "$WORK/pgbench-init.txt" >&2; die "pgbench -i failed"; }
    tps() { awk '/^tps = / {printf "%.0f", $3; exit}' "$1"; }
    for mode in S N; do
        pgbench -n -"$mode" -c "$PGBENCH_CLIENTS" -j 2 -T "$DURATION" "$PG_URL/$PGBENCH_DB" \
            >"$WORK/pgbench-$mode.txt" 2>&1 || { cat "$WORK/pgbench-$mode.txt" >&2; die "pgbench -$mode failed"; }
    done
    PGBENCH_S_TPS=$(tps "$WORK/pgbench-S.txt")
    PGBENCH_N_TPS=$(tps "$WORK/pgbench-N.txt")
    say "pgbench -S ${PGBENCH_S_TPS} tps, -N ${PGBENCH_N_TPS} tps (synchronous_commit $(psql -qtA "$PG_URL/postgres" -c 'SHOW synchronous_commit'))"
fi

# --- servers -------------------------------------------------------------------------------
SIM_PORT=$(free_port)
PORT=$(free_port)
while [[ "$PORT" == "$SIM_PORT" ]]; do PORT=$(free_port); done
PORT2=$(free_port)
while [[ "$PORT2" == "$SIM_PORT" || "$PORT2" == "$PORT" ]]; do PORT2=$(free_port); done
SIM="http://127.0.0.1:$SIM_PORT"
URL="http://127.0.0.1:$PORT"
URL2="http://127.0.0.1:$PORT2"

wait_for() { # URL: until it answers at all
    local i
    for i in $(seq 1 100); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null)" != 000 ]] && return 0
        sleep 0.1
    done
    return 1
}

say "starting the simulator on $SIM"
# The marketplace is another company's machine: keep its logging from eating our 2 cores.
RUST_LOG=warn "$BIN" sim serve --listen "127.0.0.1:$SIM_PORT" --ak "$AK" --sk "$SK" \
    >"$WORK/sim.log" 2>&1 &
SIM_PID=$!
wait_for "$SIM/sim/codes/none" || die "the simulator did not start"

if [[ "$DATABASE" == postgres ]]; then
    scratch_db "koolicense_bench_$$"
    DB_URL="$PG_URL/koolicense_bench_$$"
    say "starting koolicense serve on $URL (PostgreSQL $DB_URL, synchronous_commit as the server has it)"
else
    DB_URL="sqlite://$WORK/koolicense.db"
    say "starting koolicense serve on $URL (SQLite in $WORK, durable)"
fi
mkdir -p "$WORK/keys"
start_server() { # PORT NODE LOG: a koolicense node on the bench database; prints its pid
    env KOOLICENSE_LISTEN="127.0.0.1:$1" \
        KOOLICENSE_NODE_ID="$2" \
        KOOLICENSE_DATABASE_URL="$DB_URL" \
        KOOLICENSE_KEYS_DIR="$WORK/keys" \
        KOOLICENSE_MARKETPLACE_URL="$SIM" \
        KOOLICENSE_MARKETPLACE_FALLBACK_URL="$SIM" \
        KOOLICENSE_APIG_AK="$AK" KOOLICENSE_APIG_SK="$SK" \
        KOOLICENSE_RATE_LIMIT_PER_MINUTE="${KOOLICENSE_RATE_LIMIT_PER_MINUTE:-4000000000}" \
        "$BIN" serve >"$3" 2>&1 &
    echo $!
}
SERVER_PID=$(start_server "$PORT" bench-1 "$WORK/server.log")
wait_for "$URL/healthz" || { tail -20 "$WORK/server.log" >&2; die "the server did not start"; }

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
HZ=$(getconf CLK_TCK)
ticks_of() { # PID...: their user + system time, in clock ticks (a process gone counts 0)
    local pid total=0
    for pid in "$@"; do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}
cpu_ticks() { ticks_of $SERVER_PID ${PHASE_NODES_EXTRA:-}; } # the nodes under load
steal_ticks() { awk '$1 == "cpu" {print $9}' /proc/stat; }
# user + system of every PostgreSQL process (backends, WAL writer, checkpointer): what the
# database spends per request. 0 on SQLite, where the database runs inside the server.
db_ticks() {
    [[ $DATABASE == postgres ]] || { echo 0; return; }
    ticks_of $(pgrep -x postgres || true)
}
# RSS split: heap and stacks (anonymous) vs mapped files (the binary's and libraries' pages).
rss_split() { awk '/^RssAnon:/ {a = $2} /^RssFile:/ {f = $2} END {printf "anonymous %.1f MB, files %.1f MB", a / 1024, f / 1024}' "/proc/$SERVER_PID/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

# The pool's wait and hold histograms of the first node (`koolicense_db_pool_*_seconds`): sums
# and counts, one "name value" per line.
pool_times() {
    curl -s "$URL/metrics" | awk '/^koolicense_db_pool_(wait|held)_seconds_(sum|count) / {print $1, $2}'
}
pool_means() { # BEFORE AFTER: "pool_wait_ms=… pool_held_ms=…", the means over the phase
    awk 'FNR == NR {before[$1] = $2; next} {delta[$1] = $2 - before[$1]}
        END {
            n = delta["koolicense_db_pool_wait_seconds_count"]
            if (n > 0) printf "pool_checkouts=%d pool_wait_ms=%.3f pool_held_ms=%.3f", n,
                1000 * delta["koolicense_db_pool_wait_seconds_sum"] / n,
                1000 * delta["koolicense_db_pool_held_seconds_sum"] / n
            else printf "pool_checkouts=0 pool_wait_ms=0 pool_held_ms=0"
        }' "$1" "$2"
}

# --- one wrk phase -------------------------------------------------------------------------
# run_phase NAME MODE "URL [URL2]" DURATION [measure]: runs wrk, one per URL (the connections
# split between them, first activations on disjoint codes, from $FIRST_FROM); with "measure",
# keeps the RESULT line (two wrk: requests and rates summed, latencies the worse of the two) in
# $WORK/NAME.result and the first server's peak RSS during it in $WORK/NAME.rss.
FIRST_FROM=0
FIRST_TO=$HALF
wrk_one() { # NAME MODE URL CONNECTIONS FROM TO DURATION
    BENCH_MODE=$2 BENCH_THREADS=$THREADS BENCH_CODES=$CODES BENCH_POOL=$POOL \
        BENCH_PREFIX=$PREFIX BENCH_FIRST_FROM=$5 BENCH_FIRST_TO=$6 \
        wrk -t"$THREADS" -c"$4" -d"${7}s" --timeout 10s -s "$LUA" "$3" \
        >"$WORK/$1.wrk" 2>&1 || { cat "$WORK/$1.wrk" >&2; die "wrk failed in $1"; }
    grep -q '^RESULT' "$WORK/$1.wrk" || { cat "$WORK/$1.wrk" >&2; die "no result from $1"; }
}
merge_results() { # FILE...: one RESULT line of several wrk run side by side
    grep -h '^RESULT' "$@" | tr ' ' '\n' | awk -F= '
        $1 == "RESULT" { next }
        $1 ~ /_ms$/ { if ($2 > v[$1]) v[$1] = $2; keys[$1] = 1; next }
        $1 == "secs" { if ($2 > v[$1]) v[$1] = $2; keys[$1] = 1; next }
        { v[$1] += $2; keys[$1] = 1 }
        END {
            printf "RESULT"
            n = split("requests ok bad filler socket_errors secs okps p50_ms p90_ms p99_ms max_ms", order, " ")
            for (i = 1; i <= n; i++) if (order[i] in keys) printf " %s=%s", order[i], v[order[i]]
            print ""
        }'
}
run_phase() {
    local name=$1 mode=$2 duration=$4 measure=${5:-}
    local urls=($3)
    local peak=0 rss
    (
        while kill -0 "$SERVER_PID" 2>/dev/null; do
            rss=$(rss_kb)
            ((rss > peak)) && peak=$rss
            echo "$peak" >"$WORK/$name.rss"
            sleep 0.2
        done
    ) &
    SAMPLER_PID=$!
    local cpu_before steal_before db_before
    pool_times >"$WORK/$name.pool0"
    cpu_before=$(cpu_ticks)
    db_before=$(db_ticks)
    steal_before=$(steal_ticks)
    local perf_pid=""
    if [[ ",${BENCH_PERF:-}," == *",$name,"* ]]; then
        # The whole machine, so the server, PostgreSQL, the simulator and wrk show side by side.
        perf record -a -F 499 -o "$WORK/$name.perf.data" -- sleep "$duration" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    if ((${#urls[@]} == 1)); then
        wrk_one "$name" "$mode" "${urls[0]}" "$CONNECTIONS" "$FIRST_FROM" "$FIRST_TO" "$duration"
    else
        local split=$(((FIRST_TO - FIRST_FROM) / 2))
        wrk_one "$name.a" "$mode" "${urls[0]}" $((CONNECTIONS / 2)) "$FIRST_FROM" $((FIRST_FROM + split)) "$duration" &
        local a=$!
        wrk_one "$name.b" "$mode" "${urls[1]}" $((CONNECTIONS / 2)) $((FIRST_FROM + split)) "$FIRST_TO" "$duration" &
        local b=$!
        wait "$a" || die "wrk failed in $name (first node)"
        wait "$b" || die "wrk failed in $name (second node)"
        { cat "$WORK/$name.a.wrk" "$WORK/$name.b.wrk"; merge_results "$WORK/$name.a.wrk" "$WORK/$name.b.wrk"; } >"$WORK/$name.wrk"
    fi
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=""
    if [[ -n "$perf_pid" ]]; then
        wait "$perf_pid" || true
        for sort in comm comm,dso,symbol; do # by thread name, then by function
            perf report -i "$WORK/$name.perf.data" --no-children --sort "$sort" --percent-limit 0.4 \
                --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | sed 's/[ -]*$//'
        done >"$OUT_DIR/$name.perf.txt" || true
        say "$name: where the machine's CPU went (perf): $OUT_DIR/$name.perf.txt"
    fi
    if [[ -n "$measure" ]]; then
        if grep -q '^LASTBAD' "$WORK/$name.wrk"; then
            say "$name: some answers were not the expected ones: $(grep '^LASTBAD' "$WORK/$name.wrk")"
        fi
        # The server's CPU time per request, and the CPU time the hypervisor stole meanwhile: a
        # busy host slows every figure, these two say by how much.
        local requests result
        pool_times >"$WORK/$name.pool1"
        result="$(grep '^RESULT' "$WORK/$name.wrk" | tail -1) $(pool_means "$WORK/$name.pool0" "$WORK/$name.pool1")"
        requests=$(sed 's/.* requests=\([0-9]*\).*/\1/' <<<"$result")
        printf '%s cpu_us=%s db_cpu_us=%s steal_pct=%s\n' "$result" \
            "$(awk -v t=$(($(cpu_ticks) - cpu_before)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')" \
            "$(awk -v t=$(($(db_ticks) - db_before)) -v n="$requests" -v hz="$HZ" 'BEGIN { printf "%.1f", n ? t * 1e6 / hz / n : 0 }')" \
            "$(awk -v s=$(($(steal_ticks) - steal_before)) -v d="$duration" -v hz="$HZ" -v c="$(nproc)" 'BEGIN { printf "%.1f", 100 * s / hz / d / c }')" \
            >"$WORK/$name.result"
        say "$name: $(cut -d' ' -f2- "$WORK/$name.result"); peak RSS $(mb "$(cat "$WORK/$name.rss")") MB"
    fi
}
fingerprint() { # INDEX: as load.lua makes it
    printf '02:42:AC:11:%02X:%02X|BENCH-DISK-%07d|BENCH-BOARD|BENCH-CPU' $(($1 / 256 % 256)) $(($1 % 256)) "$1"
}
# Repeat and check-in phases leave the answers to wrk (any 2xx/3xx passes): look at a few here.
check_answers() {
    local i status
    for i in 1 $((POOL / 2)) $((POOL - 1)); do
        status=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST "$URL/v1/activate" \
            -H 'Content-Type: application/json' \
            -d "{\"code\":\"$PREFIX$i\",\"fingerprint\":\"$(fingerprint "$i")\",\"hostname\":\"bench-$i\"}")
        [[ "$status" == 200 ]] || die "a repeat activation of $PREFIX$i answered $status: $(head -c 300 "$WORK/answer.json")"
        status=$(curl -s -o "$WORK/answer.json" -w '%{http_code}' -X POST "$URL/v1/check-in" \
            -H 'Content-Type: application/json' \
            -d "{\"code\":\"$PREFIX$i\",\"fingerprint\":\"$(fingerprint "$i")\"}")
        [[ "$status" == 200 ]] && grep -q '"valid":true' "$WORK/answer.json" ||
            die "a check-in of $PREFIX$i answered $status: $(head -c 300 "$WORK/answer.json")"
    done
}
field() { # PHASE KEY
    tr ' ' '\n' <"$WORK/$1.result" | awk -F= -v k="$2" '$1 == k {print $2}'
}
# The server's CPU per request of PHASE; none when first activations ran out of codes, whose
# filler requests (cheap ones) would understate it.
cpu_cell() { # PHASE
    local filler
    filler=$(field "$1" filler)
    if ((${filler:-0} > 0)); then
        echo "n/a (codes ran out: raise BENCH_CODES)"
    else
        echo "$(field "$1" cpu_us) µs"
    fi
}

# --- codes ---------------------------------------------------------------------------------
EXPIRE=$(date -u -d '+1 year' +%Y%m%d%H%M%S)
say "loading $CODES codes into the simulator"
# One curl, 32 transfers at a time, every code a POST /sim/codes of its own.
awk -v n="$CODES" -v url="$SIM/sim/codes" -v prefix="$PREFIX" -v expire="$EXPIRE" 'BEGIN {
    for (i = 0; i < n; i++) {
        if (i) print "next"
        printf "url = \"%s\"\n", url
        printf "data = \"{\\\"code\\\":\\\"%s%d\\\",\\\"status\\\":\\\"ALIVE\\\",\\\"claimed\\\":true,", prefix, i
        printf "\\\"expire_time\\\":\\\"%s\\\",\\\"product_id\\\":\\\"OFFI-BENCH\\\",", expire
        printf "\\\"order_id\\\":\\\"CS-BENCH-%d\\\",\\\"amount\\\":1}\"\n", i
        print "output = \"/dev/null\""
        print "write-out = \"%{http_code}\\n\""
    }
}' >"$WORK/codes.curl"
created=$(curl -sS --no-progress-meter -Z --parallel-max 32 -K "$WORK/codes.curl" | grep -c '^201$' || true)
rm -f "$WORK/codes.curl"
[[ "$created" == "$CODES" ]] || die "only $created of $CODES codes were created"

# The simulator's own call, signed once (APIG SDK-HMAC-SHA256, koogallery.md §2.7).
SIM_PATH=/api/mkp-openapi-public/global/v1/license/heartbeat
SIM_BODY='{"license":"BENCH-SIM"}'
curl -fsS -o /dev/null -X POST "$SIM/sim/codes" -d '{"code":"BENCH-SIM","status":"ALIVE","claimed":true,"amount":1}'
curl -fsS -o /dev/null -X POST "$SIM/sim/codes/BENCH-SIM" -d '{"activated":true}'
SDK_DATE=$(date -u +%Y%m%dT%H%M%SZ)
SIM_HOST="127.0.0.1:$SIM_PORT"
body_hash=$(printf '%s' "$SIM_BODY" | sha256sum | cut -d' ' -f1)
canonical=$(printf 'POST\n%s/\n\ncontent-type:application/json\nhost:%s\nx-sdk-date:%s\n\ncontent-type;host;x-sdk-date\n%s' \
    "$SIM_PATH" "$SIM_HOST" "$SDK_DATE" "$body_hash")
canonical_hash=$(printf '%s' "$canonical" | sha256sum | cut -d' ' -f1)
signature=$(printf 'SDK-HMAC-SHA256\n%s\n%s' "$SDK_DATE" "$canonical_hash" |
    openssl dgst -sha256 -hmac "$SK" -hex | awk '{print $NF}')
AUTH="SDK-HMAC-SHA256 Access=$AK, SignedHeaders=content-type;host;x-sdk-date, Signature=$signature"
curl -fsS -X POST "$SIM$SIM_PATH" -H 'Content-Type: application/json' -H "Host: $SIM_HOST" \
    -H "X-Sdk-Date: $SDK_DATE" -H "Authorization: $AUTH" -d "$SIM_BODY" | grep -q '"92020000"' ||
    die "the simulator refused the signed heartbeat"
export BENCH_AUTH=$AUTH BENCH_SDK_DATE=$SDK_DATE BENCH_HOST=$SIM_HOST BENCH_SIM_PATH=$SIM_PATH BENCH_SIM_BODY=$SIM_BODY

sleep 2
IDLE_BEFORE_KB=$(rss_kb)
IDLE_BEFORE_SPLIT=$(rss_split)
say "idle RSS before load: $(mb "$IDLE_BEFORE_KB") MB"

# --- phases --------------------------------------------------------------------------------
run_phase healthz healthz "$URL" "$DURATION" measure
run_phase sim sim "$SIM" "$DURATION" measure
# First activations get an unmeasured warm-up too, on codes of their own (the top twentieth of
# the range): the server's pool, readers and marketplace connections open in it, as pgbench
# leaves its connections out of its tps.
warm_first() { # NAME "URL [URL2]": one second of first activations at the top of the range
    local from=$FIRST_FROM to=$FIRST_TO
    FIRST_FROM=$((to - (to - from) / 20))
    run_phase "$1" first "$2" 1
    FIRST_FROM=$from
    FIRST_TO=$((to - (to - from) / 20))
}
warm_first first-warm "$URL"
run_phase first first "$URL" "$DURATION" measure
FIRST_OK=$(field first ok)
(($(field first filler) > 0)) && say "warning: the first activations used up their codes before the phase ended: raise BENCH_CODES"
((FIRST_OK >= POOL)) || die "only $FIRST_OK first activations succeeded; repeat and checkin need $POOL"
if [[ "$DATABASE" == postgres ]]; then
    # The write phase leaves PostgreSQL work to do (autovacuum of the new rows, a checkpoint);
    # done now, it does not fall into the read phases, as none fell into pgbench -S's.
    psql -q "$DB_URL" -c "VACUUM (ANALYZE)" -c "CHECKPOINT" >/dev/null || die "VACUUM/CHECKPOINT failed"
else
    # Likewise the kernel's writeback of the pages SQLite's checkpoints left dirty (every answered
    # write is already durable in the WAL; this only keeps the flush out of the read phases).
    sync
fi
run_phase repeat-warm repeat "$URL" 2
check_answers
run_phase repeat repeat "$URL" "$DURATION" measure
run_phase checkin-warm checkin "$URL" 3
check_answers
run_phase checkin checkin "$URL" "$DURATION" measure

if ((NODES == 2)); then
    say "starting a second node on $URL2, same database"
    SERVER2_PID=$(start_server "$PORT2" bench-2 "$WORK/server2.log")
    wait_for "$URL2/healthz" || { tail -20 "$WORK/server2.log" >&2; die "the second node did not start"; }
    PHASE_NODES_EXTRA=$SERVER2_PID
    FIRST_FROM=$HALF
    FIRST_TO=$CODES
    warm_first first2-warm "$URL $URL2"
    run_phase first2 first "$URL $URL2" "$DURATION" measure
    run_phase repeat2-warm repeat "$URL $URL2" 2
    run_phase repeat2 repeat "$URL $URL2" "$DURATION" measure
    run_phase checkin2-warm checkin "$URL $URL2" 3
    run_phase checkin2 checkin "$URL $URL2" "$DURATION" measure
    PHASE_NODES_EXTRA=""
fi

# The server gives memory back after 5–10 s without requests (src/memory.rs).
sleep 12
IDLE_AFTER_KB=$(rss_kb)
IDLE_AFTER_SPLIT=$(rss_split)
HWM_KB=$(hwm_kb)
LOAD_PEAK_KB=0
for phase in healthz first repeat checkin; do
    p=$(cat "$WORK/$phase.rss")
    ((p > LOAD_PEAK_KB)) && LOAD_PEAK_KB=$p
done

# --- table ---------------------------------------------------------------------------------
fmt_int() { awk -v x="$1" 'BEGIN { if (x == "") print "n/a"; else { s = sprintf("%.0f", x); r = ""; while (length(s) > 3) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) } print s r } }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b == 0) print "n/a"; else printf "%.2f", a / b }'; }
ms() { awk -v x="$1" 'BEGIN { printf "%.2f ms", x }'; }

EMPTY=$(field healthz okps)
SIMPS=$(field sim okps)
FIRST=$(field first okps)
REPEAT=$(field repeat okps)
CHECKIN=$(field checkin okps)
{
  if [[ "$DATABASE" == postgres ]]; then
    # Targets of the multi-node deployment: half the database's own ceilings.
    pg_row() { # LABEL PHASE CEILING-LABEL CEILING TARGET-RATIO P99-TARGET
        local okps
        okps=$(field "$2" okps)
        echo "| $1 | $(fmt_int "$okps") (p99 $(ms "$(field "$2" p99_ms)")) | ≥ $5 × ceiling, p99 ≤ $6 | $3: $(fmt_int "$4") | $(ratio "$okps" "$4") | $(cpu_cell "$2") | $(field "$2" db_cpu_us) µs | $(field "$2" pool_wait_ms) / $(field "$2" pool_held_ms) ms ($(fmt_int "$(field "$2" pool_checkouts)")) |"
    }
    echo "| figure (PostgreSQL, one node) | measured | target | ceiling (same run) | ratio | server CPU per request | PostgreSQL CPU per request | pool wait / held, mean (checkouts) |"
    echo "|---|---|---|---|---|---|---|---|"
    pg_row "first activations/s (distinct codes)" first "pgbench -N tps" "$PGBENCH_N_TPS" 0.5 "100 ms"
    pg_row "repeat activations/s" repeat "pgbench -S tps" "$PGBENCH_S_TPS" 0.5 "15 ms"
    pg_row "check-ins/s" checkin "pgbench -S tps" "$PGBENCH_S_TPS" 0.5 "15 ms"
    echo "| repeat activations/s against the empty handler | $(fmt_int "$REPEAT") | | empty handler req/s: $(fmt_int "$EMPTY") | $(ratio "$REPEAT" "$EMPTY") | (empty handler $(field healthz cpu_us) µs) | | |"
    if ((NODES == 2)); then
        echo
        echo "| figure (PostgreSQL, two nodes, one wrk each) | both nodes | one node (above) | ceiling | ratio | server CPU per request |"
        echo "|---|---|---|---|---|---|"
        for pair in "first activations/s:first2:first:$PGBENCH_N_TPS" "repeat activations/s:repeat2:repeat:$PGBENCH_S_TPS" "check-ins/s:checkin2:checkin:$PGBENCH_S_TPS"; do
            IFS=: read -r label two one ceiling <<<"$pair"
            echo "| $label | $(fmt_int "$(field "$two" okps)") (p99 $(ms "$(field "$two" p99_ms)")) | $(fmt_int "$(field "$one" okps)") | $(fmt_int "$ceiling") | $(ratio "$(field "$two" okps)" "$ceiling") | $(cpu_cell "$two") |"
        done
    fi
    echo
    echo "PostgreSQL ceilings: \`pgbench -S\` $(fmt_int "$PGBENCH_S_TPS") tps, \`pgbench -N\` $(fmt_int "$PGBENCH_N_TPS") tps ($PGBENCH_CLIENTS clients, scale 10, synchronous_commit $(psql -qtA "$PG_URL/postgres" -c 'SHOW synchronous_commit'))."
    echo "Server RSS under load $(mb "$LOAD_PEAK_KB") MB (VmHWM $(mb "$HWM_KB") MB); idle $(mb "$IDLE_BEFORE_KB") MB before, $(mb "$IDLE_AFTER_KB") MB after."
  else
    echo "| figure | measured | target | ceiling (same run) | ratio | server CPU per request |"
    echo "|---|---|---|---|---|---|"
    echo "| first activations/s (distinct codes) | $(fmt_int "$FIRST") (p99 $(ms "$(field first p99_ms)")) | ≥ 3,000 | single-row durable SQLite commits/s: $(fmt_int "$COMMIT1_PER_S") | $(ratio "$FIRST" "$COMMIT1_PER_S") | $(cpu_cell first) |"
    echo "| | | | simulator alone, req/s: $(fmt_int "$SIMPS") | $(ratio "$FIRST" "$SIMPS") | |"
    echo "| | | | Ed25519 signatures/s, one core: $(fmt_int "$ED25519_PER_S") | $(ratio "$FIRST" "$ED25519_PER_S") | |"
    echo "| repeat activations/s | $(fmt_int "$REPEAT") | ≥ 30,000 | empty handler req/s: $(fmt_int "$EMPTY") | $(ratio "$REPEAT" "$EMPTY") | $(field repeat cpu_us) µs (empty handler $(field healthz cpu_us) µs) |"
    echo "| repeat activations p99 | $(ms "$(field repeat p99_ms)") | ≤ 10 ms | empty handler p99: $(ms "$(field healthz p99_ms)") | $(ratio "$(field repeat p99_ms)" "$(field healthz p99_ms)") | |"
    echo "| check-ins/s | $(fmt_int "$CHECKIN") | ≥ 30,000 | empty handler req/s: $(fmt_int "$EMPTY") | $(ratio "$CHECKIN" "$EMPTY") | $(field checkin cpu_us) µs |"
    echo "| check-ins p99 | $(ms "$(field checkin p99_ms)") | ≤ 10 ms | empty handler p99: $(ms "$(field healthz p99_ms)") | $(ratio "$(field checkin p99_ms)" "$(field healthz p99_ms)") | |"
    echo "| server RSS under load (peak sampled; VmHWM) | $(mb "$LOAD_PEAK_KB") MB; $(mb "$HWM_KB") MB | ≤ 100 MB | | | |"
    echo "| server RSS idle (before; after load) | $(mb "$IDLE_BEFORE_KB") MB ($IDLE_BEFORE_SPLIT); $(mb "$IDLE_AFTER_KB") MB ($IDLE_AFTER_SPLIT) | ≤ 30 MB | | | |"
  fi
    echo
    echo "Ceilings: empty actix-web JSON handler (\`GET /healthz\`, same server, same load) $(fmt_int "$EMPTY") req/s, p99 $(ms "$(field healthz p99_ms)");"
    echo "simulator alone (signed \`POST .../v1/license/heartbeat\`) $(fmt_int "$SIMPS") req/s, p99 $(ms "$(field sim p99_ms)");"
    echo "Ed25519 $(fmt_int "$ED25519_PER_S")/s on one core; durable SQLite commits $(fmt_int "$COMMIT1_PER_S")/s with one row each, $(fmt_int "$COMMIT16_ROWS_PER_S") rows/s with 16 rows each."
    echo "CPU time stolen by the hypervisor during each phase: healthz $(field healthz steal_pct) %, sim $(field sim steal_pct) %, first $(field first steal_pct) %, repeat $(field repeat steal_pct) %, checkin $(field checkin steal_pct) %."
    echo "Database: $DATABASE. Load: wrk, $CONNECTIONS connections, $THREADS threads, ${DURATION} s per phase; $(nproc) cores; $(date -u +%Y-%m-%dT%H:%MZ); $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')$(git -C "$ROOT" diff --quiet 2>/dev/null || echo '+changes')."
} >"$OUT"
cat "$OUT"
say "table written to $OUT"
