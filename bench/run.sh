#!/usr/bin/env bash
# xacthuc benchmark: the server pinned to one core, wrk pinned to the other, on
# SQLite + in-memory store and on PostgreSQL + Redis. See bench/README.md.
#
#   bench/run.sh                      # both backends, 3 runs x 10 s per case
#   QUICK=1 bench/run.sh              # one 3 s run per case
#   BACKENDS=postgres bench/run.sh    # one backend
#
# Knobs (environment): BACKENDS ("sqlite postgres"), RUNS (3), DURATION (seconds, 10),
# CONNS ("16 64"), CASES (all), PORT (18080), SERVER_CPU (0), LOAD_CPU (1), SKIP_BUILD (0),
# CODE_TTL (600), NICE (-10 as root), QUIET_WAIT (0), QUIET_BUSY (25), PROFILE (0), MINT_CODES (first mint of a code-exchange run, 40000), PG_HOST/PG_PORT/PG_USER,
# PG_DB (xacthuc_bench), REDIS_HOST/REDIS_PORT, KEEP_WORK (0), CARGO_TARGET_DIR (honoured).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
export BENCH_LUA_DIR="$BENCH_DIR/lua"

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
  RUNS=${RUNS:-1}
  DURATION=${DURATION:-3}
  MINT_CODES=${MINT_CODES:-15000}
else
  RUNS=${RUNS:-3}
  DURATION=${DURATION:-10}
  MINT_CODES=${MINT_CODES:-40000}
fi
BACKENDS=${BACKENDS:-"sqlite postgres"}
CONNS=${CONNS:-"16 64"}
ALL_CASES="discovery jwks client_credentials introspect userinfo code_exchange refresh login_page passkey_ceremony"
CASES=${CASES:-$ALL_CASES}
PORT=${PORT:-18080}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
CODE_TTL=${CODE_TTL:-600}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_DB=${PG_DB:-xacthuc_bench}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
KEEP_WORK=${KEEP_WORK:-0}
QUIET_WAIT=${QUIET_WAIT:-0}
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"
own_session "$@"

# A domain name, not an IP address: builds with passkeys refuse an IP public URL (WebAuthn).
BASE="http://localhost:$PORT"
REDIRECT_URI="http://127.0.0.1:9/cb"
REDIRECT_URI_ENC="http%3A%2F%2F127.0.0.1%3A9%2Fcb"
ACCOUNT_ID_NUMBER=001090012345
ACCOUNT_PASSWORD='Aa@123456'
RESULTS_DIR="$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
CLK_TCK=$(getconf CLK_TCK)

# The benchmark defines the backends itself.
unset DATABASE_URL REDIS_URL XACTHUC_CONFIG

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- cleanup (trap) --
SERVER_PID=""
WORK=""
PG_CREATED=""
REDIS_PREFIX=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  if [[ -n $REDIS_PREFIX ]]; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "${REDIS_PREFIX}*" 2>/dev/null \
      | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" UNLINK >/dev/null 2>&1 || true
    REDIS_PREFIX=""
  fi
  if [[ -n $PG_CREATED ]]; then
    pg_admin "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1 || true
    PG_CREATED=""
  fi
  if [[ -n $WORK && -d $WORK && $KEEP_WORK != 1 ]]; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ---------------------------------------------------------------- prerequisites --
ensure_tools() {
  if ! command -v wrk >/dev/null; then
    log "installing wrk"
    apt-get install -y wrk >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
  fi
  for t in wrk curl jq taskset awk; do command -v "$t" >/dev/null || die "$t is required"; done
  [[ $(nproc --all) -ge 2 ]] || log "warning: fewer than 2 CPUs; server and wrk will share a core"
}

build() {
  cd "$ROOT"
  local target_dir
  target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
  if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release (target dir $target_dir)"
    cargo build --release --quiet
  fi
  BIN_SRC="$target_dir/release/xacthuc"
  [[ -x $BIN_SRC ]] || die "no binary at $BIN_SRC"
  GIT_REV=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$ROOT" status --porcelain -- src migrations themes Cargo.toml Cargo.lock 2>/dev/null) ]]; then
    GIT_REV="$GIT_REV+dirty"
  fi
  GIT_REV="$GIT_REV (binary built $(date -r "$BIN_SRC" '+%Y-%m-%d %H:%M:%S'))"
}

pg_admin() {
  local sql=$1 u
  for u in ${PG_USER:-postgres root}; do
    if psql -h "$PG_HOST" -p "$PG_PORT" -U "$u" -d test -v ON_ERROR_STOP=1 -qAt -c "$sql" 2>/dev/null; then
      PG_USER=$u
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- server --
# Environment for the server and the CLI of the current backend (the CLI must hit the same
# database, from the same working directory: SQLite file and dev key-encryption key live in data/).
backend_env() {
  ENV=(
    "XACTHUC_LOG=warn"
    "XACTHUC__SERVER__BIND=127.0.0.1:$PORT"
    "XACTHUC__SERVER__PUBLIC_URL=$BASE"
    "XACTHUC__THEME__DIR=$ROOT/themes/default"
    "XACTHUC__TOKENS__CODE_TTL_SECONDS=$CODE_TTL"
  )
  # Builds with an SMS step after the password (issue 3) would stop the set-up login there; the
  # login is set-up, not under test, so the bench account logs in with its password alone.
  # (Older builds refuse unknown keys, hence the checks: issue 6 moved the switch to [login].)
  if grep -q -a 'login.then.' "$WORK/xacthuc"; then
    ENV+=("XACTHUC__LOGIN__THEN__PASSWORD=")
  elif grep -q -a 'login_otp' "$WORK/xacthuc"; then
    ENV+=("XACTHUC__PASSWORDS__LOGIN_OTP=false")
  fi
  # Builds with a per-IP ceiling on /authorize (issue 7): minting codes sends many from 127.0.0.1.
  if grep -q -a 'authorize_per_ip_per_minute' "$WORK/xacthuc"; then
    ENV+=("XACTHUC__LIMITS__AUTHORIZE_PER_IP_PER_MINUTE=0")
  fi
  if [[ $1 == postgres ]]; then
    ENV+=(
      "DATABASE_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
      "REDIS_URL=redis://$REDIS_HOST:$REDIS_PORT"
      "XACTHUC__STORE__KEY_PREFIX=$REDIS_PREFIX"
    )
  fi
}

xacthuc() { (cd "$WORK" && env "${ENV[@]}" "$WORK/xacthuc" "$@"); }

start_server() {
  if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
    die "something already listens on $BASE (another bench run?)"
  fi
  (cd "$WORK" && exec env "${ENV[@]}" nice -n "$NICE" taskset -c "$SERVER_CPU" "$WORK/xacthuc" serve) \
    >"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    if curl -s -o /dev/null --max-time 1 "$BASE/healthz"; then
      log "server up (pid $SERVER_PID, cpu $SERVER_CPU)"
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "server exited"; }
    sleep 0.1
  done
  die "server did not become healthy"
}

rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }
hwm_kb() { awk '/^VmHWM:/ {print $2}' "/proc/$SERVER_PID/status"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# "pid jiffies" of the PostgreSQL and Redis server processes (they share the two CPUs with us).
db_ticks() { { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk '$2 == "(postgres)" || $2 == "(redis-server)" { print $1, $14 + $15 }'; }
# Jiffies they used between two snapshots: per process, so one that exits meanwhile (its time is
# lost) does not make the sum negative; one that starts meanwhile counts from zero.
db_delta() { awk 'NR == FNR { before[$1] = $2; next } { d = $2 - before[$1]; if (d > 0) t += d } END { print t + 0 }' "$1" "$2"; }
# "busy total" jiffies of one CPU.
cpu_jiffies() {
  awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat
}

# ---------------------------------------------------------------- OIDC set-up --
setup_backend_data() {
  local out
  out=$(xacthuc client add --name bench --redirect-uri "$REDIRECT_URI" \
    --grant client_credentials --grant authorization_code --grant refresh_token \
    --skip-consent --id-token-alg ES256 --scope openid --scope profile)
  CLIENT_ID=$(jq -r .client_id <<<"$out")
  CLIENT_SECRET=$(jq -r .client_secret <<<"$out")
  [[ -n $CLIENT_ID && $CLIENT_SECRET != null ]] || die "client add printed: $out"
  BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 -w0)"
  XACTHUC_ACCOUNT_PASSWORD="$ACCOUNT_PASSWORD" xacthuc account add --id-number "$ACCOUNT_ID_NUMBER" \
    --name "Nguyen Van A" --birthdate 12/06/1990 --phone 0823628899 >/dev/null
  AUTHORIZE_URL="$BASE/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_URI_ENC&scope=openid%20profile&state=x"
}

# Logs in once over HTTP: /authorize -> /login form -> POST /login -> 302 with a code.
# Leaves the SSO session id in SESSION_ID.
login() {
  local jar="$WORK/cookies.txt" status loc page csrf ar
  rm -f "$jar"
  read -r status loc < <(curl -s -o /dev/null -c "$jar" -b "$jar" -w '%{http_code} %{redirect_url}\n' "$AUTHORIZE_URL")
  [[ $status == 303 && $loc == */login\?ar=* ]] || die "GET /authorize without a session: $status $loc"
  page=$(curl -s -c "$jar" -b "$jar" "$loc")
  csrf=$(sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n1)
  ar=$(sed -n 's/.*name="ar" value="\([^"]*\)".*/\1/p' <<<"$page" | head -n1)
  [[ -n $csrf && -n $ar ]] || die "login page has no csrf/ar inputs"
  read -r status loc < <(curl -s -o /dev/null -c "$jar" -b "$jar" -w '%{http_code} %{redirect_url}\n' \
    --data-urlencode "csrf=$csrf" --data-urlencode "ar=$ar" \
    --data-urlencode "username=$ACCOUNT_ID_NUMBER" --data-urlencode "password=$ACCOUNT_PASSWORD" \
    "$BASE/login")
  [[ $status == 302 && $loc == "$REDIRECT_URI"\?*code=* ]] || die "POST /login: $status $loc"
  SESSION_ID=$(awk -F'\t' '$6 == "xacthuc_session" {print $7}' "$jar")
  [[ -n $SESSION_ID ]] || die "no xacthuc_session cookie after login"
}

# A fresh code through the SSO session (no login).
one_code() {
  local status loc
  read -r status loc < <(curl -s -o /dev/null -H "Cookie: xacthuc_session=$SESSION_ID" \
    -w '%{http_code} %{redirect_url}\n' "$AUTHORIZE_URL")
  [[ $status == 302 && $loc == *code=* ]] || die "GET /authorize with a session: $status $loc"
  sed -n 's/.*[?&]code=\([^&]*\).*/\1/p' <<<"$loc"
}

token_request() { curl -s -H "Authorization: $BASIC" "$@" "$BASE/token"; }

user_access_token() {
  local body
  body=$(token_request -d grant_type=authorization_code -d "code=$(one_code)" -d "redirect_uri=$REDIRECT_URI_ENC")
  jq -er .access_token <<<"$body" || die "code exchange: $body"
}

client_access_token() {
  local body
  body=$(token_request -d grant_type=client_credentials)
  jq -er .access_token <<<"$body" || die "client_credentials: $body"
}

# Checks a case's exact status once with curl before loading it (wrk itself only counts >= 400).
preflight() {
  local name=$1 want=$2 got body
  shift 2
  body="$WORK/preflight-$name.body"
  got=$(curl -s -o "$body" -w '%{http_code}' "$@")
  if [[ $got != "$want" ]]; then
    log "PREFLIGHT $name: expected $want, got $got: $(head -c 400 "$body")"
    NOTES+=("$name: preflight expected HTTP $want, got $got ($(head -c 200 "$body" | tr '\n' ' ')); reproduce: curl $*")
    return 1
  fi
}

# ---------------------------------------------------------------- wrk --
# run_wrk NAME CONNS SECONDS URL SCRIPT [HEADER...] -- [SCRIPT ARGS...]
# Appends wrk's output to the raw log; leaves the parsed BENCH line and CPU use in RESULT.
run_wrk() {
  local name=$1 conns=$2 secs=$3 url=$4 script=$5
  shift 5
  local hdrs=() sargs=()
  while [[ $# -gt 0 && $1 != -- ]]; do hdrs+=(-H "$1"); shift; done
  [[ $# -gt 0 ]] && shift
  sargs=("$@")
  wait_quiet
  local out="$WORK/wrk.out" t0 t1 c0 ct0 c1 ct1 l0 lt0 l1 lt1 perf_pid=""
  if [[ ${PROFILE_THIS_RUN:-0} == 1 ]]; then
    perf record -q -F 499 -p "$SERVER_PID" -o "$WORK/perf.data" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid=$!
    perf stat -e context-switches,syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync,syscalls:sys_enter_futex,syscalls:sys_enter_clock_nanosleep,syscalls:sys_enter_nanosleep \
      -p "$SERVER_PID" -o "$WORK/perf.stat" -- sleep "$secs" >/dev/null 2>&1 &
    perf_pid="$perf_pid $!"
  fi
  db_ticks >"$WORK/db0"
  t0=$(proc_ticks "$SERVER_PID"); read -r c0 ct0 < <(cpu_jiffies "$SERVER_CPU"); read -r l0 lt0 < <(cpu_jiffies "$LOAD_CPU")
  local start_ns; start_ns=$(date +%s%N)
  # bash's `time` gives wrk's own CPU use (user+sys), to tell a saturated load generator apart.
  local TIMEFORMAT='%U %S'
  { time nice -n "$NICE" taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${secs}s" --timeout 5s --latency \
      "${hdrs[@]}" -s "$BENCH_LUA_DIR/$script" "$url" -- "${sargs[@]}" >"$out" 2>&1 || true; } 2>"$WORK/wrk.time"
  local wall_ns=$(( $(date +%s%N) - start_ns ))
  t1=$(proc_ticks "$SERVER_PID"); read -r c1 ct1 < <(cpu_jiffies "$SERVER_CPU"); read -r l1 lt1 < <(cpu_jiffies "$LOAD_CPU")
  db_ticks >"$WORK/db1"
  if [[ -n $perf_pid ]]; then
    wait $perf_pid 2>/dev/null || true
    save_profile "$name" "$conns"
  fi
  { echo "### $BACKEND $name c=$conns"; cat "$out"; echo; } >>"$RAW_LOG"
  RESULT=$(grep '^BENCH ' "$out" | tail -n1 || true)
  [[ -n $RESULT ]] || { cat "$out" >&2; die "wrk produced no BENCH line for $name"; }
  # CPU use as % of one core over the wall time: the server, wrk, and everything on each pinned
  # CPU ("other" = busy time on that CPU not explained by the server / wrk: another workload).
  local srv_pct wrk_pct cpu0_pct cpu1_pct db_pct
  db_pct=$(awk -v d="$(db_delta "$WORK/db0" "$WORK/db1")" -v hz="$CLK_TCK" -v w="$wall_ns" 'BEGIN{printf "%.0f", 100*d/hz/(w/1e9)}')
  srv_pct=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v w="$wall_ns" 'BEGIN{printf "%.0f", 100*d/hz/(w/1e9)}')
  wrk_pct=$(awk -v w="$wall_ns" 'END {printf "%.0f", 100*($1+$2)/(w/1e9)}' "$WORK/wrk.time")
  cpu0_pct=$(awk -v b=$((c1 - c0)) -v t=$((ct1 - ct0)) 'BEGIN{printf "%.0f", t ? 100*b/t : 0}')
  cpu1_pct=$(awk -v b=$((l1 - l0)) -v t=$((lt1 - lt0)) 'BEGIN{printf "%.0f", t ? 100*b/t : 0}')
  local other0=$(( cpu0_pct > srv_pct ? cpu0_pct - srv_pct : 0 ))
  local other1=$(( cpu1_pct > wrk_pct ? cpu1_pct - wrk_pct : 0 ))
  RESULT="$RESULT srv_cpu=$srv_pct wrk_cpu=$wrk_pct cpu_srv=$cpu0_pct cpu_load=$cpu1_pct other_srv=$other0 other_load=$other1 db_cpu=$db_pct"
}

# Waits (at most QUIET_WAIT s) until the machine is mostly idle before a run: this box is shared
# (e.g. someone's cargo build), and a busy core halves the figures. Busy time is reported per run.
wait_quiet() {
  [[ $QUIET_WAIT -gt 0 ]] || return 0
  local waited=0 busy
  while :; do
    local a b c d
    read -r a b < <(cpu_jiffies_all); sleep 1; read -r c d < <(cpu_jiffies_all)
    busy=$(awk -v x=$((c - a)) -v y=$((d - b)) 'BEGIN{printf "%.0f", y ? 100*x/y : 0}')
    if [[ $busy -le ${QUIET_BUSY:-25} ]]; then break; fi
    waited=$((waited + 1))
    if [[ $waited -ge $QUIET_WAIT ]]; then
      log "  machine still ${busy}% busy after ${waited}s; running anyway (see 'other' CPU columns)"
      break
    fi
  done
  if [[ $waited -gt 0 && $waited -lt $QUIET_WAIT ]]; then log "  waited ${waited}s for the machine to quiet down"; fi
}
cpu_jiffies_all() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# With PROFILE=1 the last run of each case is sampled with perf (flat profile, 499 Hz).
save_profile() {
  local f="$RESULTS_DIR/$BACKEND-$STAMP.perf.txt"
  {
    echo "===== $1 c=$2: server events over the ${DURATION}s run (divide by requests: $(field "$(grep '^BENCH ' "$WORK/wrk.out")" requests))"
    grep -E 'context-switches|sys_enter' "$WORK/perf.stat" | awk '{print "    " $1, $2}'
    echo "===== $1 c=$2: CPU by thread"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 12
    echo "===== $1 c=$2: CPU by binary"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 12
    echo "===== $1 c=$2: hottest symbols"
    perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
    echo
  } >>"$f" || true
  rm -f "$WORK/perf.data" "$WORK/perf.stat"
}

field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1"; }

# Records one run: appends "case conns rps p50 p99 non2xx errors srvcpu cpu0 cpu1 bad ranout" to RUNS_FILE.
record() {
  local name=$1 conns=$2 r=$RESULT
  local errs=$(( $(field "$r" connect) + $(field "$r" read) + $(field "$r" write) + $(field "$r" timeout) ))
  echo "$name $conns $(field "$r" rps) $(field "$r" p50_ms) $(field "$r" p99_ms) $(field "$r" non2xx) $errs" \
    "$(field "$r" srv_cpu) $(field "$r" cpu_srv) $(field "$r" cpu_load) $(field "$r" bad) $(field "$r" ran_out)" \
    "$(field "$r" requests) $(field "$r" wrk_cpu) $(field "$r" other_srv) $(field "$r" other_load) $(field "$r" db_cpu)" >>"$RUNS_FILE"
  log "  $name c=$conns: $(field "$r" rps) req/s, p50 $(field "$r" p50_ms) ms, p99 $(field "$r" p99_ms) ms," \
    "non2xx $(field "$r" non2xx), socket errors $errs, unexpected $(field "$r" bad)," \
    "cpu: server $(field "$r" srv_cpu)%, wrk $(field "$r" wrk_cpu)%, other on cpu$SERVER_CPU $(field "$r" other_srv)%, other on cpu$LOAD_CPU $(field "$r" other_load)%, postgres+redis $(field "$r" db_cpu)%"
  if [[ -s $WORK/errors.log ]]; then
    NOTES+=("$name c=$conns: unexpected responses (first samples): $(head -n3 "$WORK/errors.log" | tr '\n' '|')")
    { echo "### $BACKEND $name c=$conns unexpected responses"; cat "$WORK/errors.log"; echo; } >>"$RAW_LOG"
    rm -f "$WORK/errors.log"
  fi
  if [[ $(field "$r" ran_out) == 1 ]]; then
    NOTES+=("$name c=$conns: ran out of single-use inputs after $(field "$r" requests) requests in $(field "$r" duration_s) s (rate is over that shorter time)")
  fi
}

# ---------------------------------------------------------------- cases --
# PROFILE=1: profile the last run at the highest concurrency.
profile_flag() {
  local last_c; last_c=$(awk '{print $NF}' <<<"$CONNS")
  PROFILE_THIS_RUN=0
  if [[ ${PROFILE:-0} == 1 && $1 == "$RUNS" && $2 == "$last_c" ]]; then PROFILE_THIS_RUN=1; fi
}
simple_case() { # name conns url method body [header]
  local name=$1 conns=$2 url=$3 method=$4 body=$5 hdr=${6:-}
  local h=(); [[ -n $hdr ]] && h=("$hdr")
  local i
  for i in $(seq "$RUNS"); do
    profile_flag "$i" "$conns"
    run_wrk "$name" "$conns" "$DURATION" "$url" simple.lua "${h[@]}" -- "$method" "$body"
    record "$name" "$conns"
  done
  PROFILE_THIS_RUN=0
}

case_discovery() {
  preflight discovery 200 "$BASE/.well-known/openid-configuration" || return 0
  for c in $CONNS; do simple_case discovery "$c" "$BASE/.well-known/openid-configuration" GET ""; done
}

# The login page of a pending authorization request (what every login starts with): the pending
# request, the client, what the login needs, the methods that can meet it, the page.
pending_login_url() {
  local status loc
  read -r status loc < <(curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' "$AUTHORIZE_URL")
  [[ $status == 303 && $loc == */login\?ar=* ]] || die "GET /authorize without a session: $status $loc"
  echo "$loc"
}

case_login_page() {
  local url; url=$(pending_login_url)
  preflight login_page 200 "$url" || return 0
  for c in $CONNS; do simple_case login_page "$c" "$url" GET ""; done
}

# The start of a passkey login: a WebAuthn challenge and the login's flow state, per request
# (each request leaves a flow in the store for its 30 minutes).
case_passkey_ceremony() {
  local url; url=$(pending_login_url)
  url="${url/\/login\?/\/login\/passkey?}"
  preflight passkey_ceremony 200 "$url" || return 0
  for c in $CONNS; do simple_case passkey_ceremony "$c" "$url" GET ""; done
}

case_jwks() {
  preflight jwks 200 "$BASE/jwks" || return 0
  for c in $CONNS; do simple_case jwks "$c" "$BASE/jwks" GET ""; done
}

case_client_credentials() {
  preflight client_credentials 200 -H "Authorization: $BASIC" -d grant_type=client_credentials "$BASE/token" || return 0
  for c in $CONNS; do
    simple_case client_credentials "$c" "$BASE/token" POST "grant_type=client_credentials" "Authorization: $BASIC"
  done
}

case_introspect() {
  local tok; tok=$(client_access_token)
  preflight introspect 200 -H "Authorization: $BASIC" -d "token=$tok" "$BASE/introspect" || return 0
  jq -e '.active == true' "$WORK/preflight-introspect.body" >/dev/null \
    || NOTES+=("introspect: preflight answered $(cat "$WORK/preflight-introspect.body")")
  for c in $CONNS; do
    simple_case introspect "$c" "$BASE/introspect" POST "token=$tok" "Authorization: $BASIC"
  done
}

case_userinfo() {
  local tok; tok=$(user_access_token)
  preflight userinfo 200 -H "Authorization: Bearer $tok" "$BASE/userinfo" || return 0
  for c in $CONNS; do
    simple_case userinfo "$c" "$BASE/userinfo" GET "" "Authorization: Bearer $tok"
  done
}

# Mints N codes with wrk through the SSO session; leaves them in $WORK/codes.
mint_codes() {
  local n=$1 start end
  rm -f "$WORK/codes"
  start=$(date +%s%N)
  nice -n "$NICE" taskset -c "$LOAD_CPU" wrk -t1 -c32 -d300s --timeout 5s -H "Cookie: xacthuc_session=$SESSION_ID" \
    -s "$BENCH_LUA_DIR/mint_codes.lua" "$AUTHORIZE_URL" -- "$n" "$WORK/codes" "$WORK/errors.log" \
    >"$WORK/mint.out" 2>&1 || true
  end=$(date +%s%N)
  local got; got=$(wc -l <"$WORK/codes" 2>/dev/null || echo 0)
  local r; r=$(grep '^BENCH ' "$WORK/mint.out" || true)
  log "  minted $got codes in $(( (end - start) / 1000000 )) ms ($(field "$r" rps) req/s, unexpected $(field "$r" bad))"
  if [[ -s $WORK/errors.log ]]; then
    NOTES+=("minting codes (GET /authorize with session): unexpected responses: $(head -n3 "$WORK/errors.log" | tr '\n' '|')")
    rm -f "$WORK/errors.log"
  fi
  [[ $got -gt 0 ]] || { cat "$WORK/mint.out" >&2; die "could not mint codes"; }
}

case_code_exchange() {
  local code; code=$(one_code)
  preflight code_exchange 200 -H "Authorization: $BASIC" -d grant_type=authorization_code \
    -d "code=$code" -d "redirect_uri=$REDIRECT_URI_ENC" "$BASE/token" || return 0
  jq -r '.refresh_token // empty' "$WORK/preflight-code_exchange.body" >>"$WORK/rt_pool"
  local want=$MINT_CODES c i
  for c in $CONNS; do
    for i in $(seq "$RUNS"); do
      mint_codes "$want"
      profile_flag "$i" "$c"
      : >"$WORK/rt_new"
      run_wrk code_exchange "$c" "$DURATION" "$BASE/token" single_use.lua "Authorization: $BASIC" -- \
        code "$WORK/codes" "$WORK/rt_new" "$WORK/errors.log" "$c" "$REDIRECT_URI_ENC"
      record code_exchange "$c"
      cat "$WORK/rt_new" >>"$WORK/rt_pool"
      # Next mint: what this rate needs for a full run, with 50 % headroom.
      want=$(awk -v r="$(field "$RESULT" rps)" -v d="$DURATION" -v m="$MINT_CODES" \
        'BEGIN { n = int(r * d * 1.5) + 1000; if (n < m / 4) n = int(m / 4); if (n > 400000) n = 400000; print n }')
    done
  done
  PROFILE_THIS_RUN=0
}

case_refresh() {
  if [[ ! -s $WORK/rt_pool ]]; then
    # Stand-alone (CASES=refresh): seed the pool with one code-exchange run's worth.
    mint_codes "$MINT_CODES"
    run_wrk seed 16 "$DURATION" "$BASE/token" single_use.lua "Authorization: $BASIC" -- \
      code "$WORK/codes" "$WORK/rt_pool" "$WORK/errors.log" 16 "$REDIRECT_URI_ENC"
    rm -f "$WORK/errors.log"
  fi
  local rt; rt=$(head -n1 "$WORK/rt_pool")
  preflight refresh 200 -H "Authorization: $BASIC" -d grant_type=refresh_token -d "refresh_token=$rt" "$BASE/token" || return 0
  tail -n +2 "$WORK/rt_pool" >"$WORK/rt_tmp"
  jq -r '.refresh_token // empty' "$WORK/preflight-refresh.body" >>"$WORK/rt_tmp"
  mv "$WORK/rt_tmp" "$WORK/rt_pool"
  local c i
  for c in $CONNS; do
    for i in $(seq "$RUNS"); do
      log "  refresh pool: $(wc -l <"$WORK/rt_pool") tokens"
      profile_flag "$i" "$c"
      : >"$WORK/rt_new"
      run_wrk refresh "$c" "$DURATION" "$BASE/token" single_use.lua "Authorization: $BASIC" -- \
        refresh "$WORK/rt_pool" "$WORK/rt_new" "$WORK/errors.log" "$c"
      record refresh "$c"
      # Tokens 1..consumed were sent (each rotated or refused); keep the rest plus the new ones.
      local used; used=$(field "$RESULT" consumed)
      tail -n +"$((used + 1))" "$WORK/rt_pool" >"$WORK/rt_tmp"
      cat "$WORK/rt_new" >>"$WORK/rt_tmp"
      mv "$WORK/rt_tmp" "$WORK/rt_pool"
    done
  done
  PROFILE_THIS_RUN=0
}

# ---------------------------------------------------------------- report --
target_of() {
  case $1 in
    discovery|jwks) echo 50000 ;;
    client_credentials) echo 15000 ;;
    introspect) echo 20000 ;;
    code_exchange|refresh) [[ $2 == postgres ]] && echo 2000 || echo - ;;
    *) echo - ;;
  esac
}

write_report() {
  local file=$1
  {
    echo "## xacthuc benchmark: $BACKEND_LABEL"
    echo
    echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), commit $GIT_REV, $(nproc --all) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
    echo "- server: \`nice -n $NICE taskset -c $SERVER_CPU xacthuc serve\` (XACTHUC_LOG=warn, code TTL ${CODE_TTL}s); load: \`nice -n $NICE taskset -c $LOAD_CPU wrk -t1 -cN -d${DURATION}s\`; $RUNS run(s) per row, median req/s, p50/p99 of the median run"
    echo "- server RSS: idle after start $((RSS_IDLE / 1024)) MB ($RSS_IDLE kB); after the load $((RSS_AFTER / 1024)) MB ($RSS_AFTER kB); peak (VmHWM) $((RSS_PEAK / 1024)) MB — target < 50 MB idle"
    echo
    echo "| endpoint | conns | req/s (median) | p50 ms | p99 ms | all runs req/s | non-2xx | socket errors | server CPU % | req/s per server core | wrk CPU % | PG+Redis CPU % | other load cpu$SERVER_CPU / cpu$LOAD_CPU % | target req/s |"
    echo "|---|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    local name c
    for name in $CASES; do
      for c in $CONNS; do
        awk -v n="$name" -v c="$c" '$1 == n && $2 == c' "$RUNS_FILE" | sort -k3,3g >"$WORK/rows"
        local count; count=$(wc -l <"$WORK/rows")
        [[ $count -gt 0 ]] || continue
        local med; med=$(sed -n "$(( (count + 1) / 2 ))p" "$WORK/rows")
        local all; all=$(awk '{printf "%s%.0f", (NR > 1 ? ", " : ""), $3}' "$WORK/rows")
        local non2xx; non2xx=$(awk '{s += ($6 > $11 ? $6 : $11)} END {print s}' "$WORK/rows")
        local errs; errs=$(awk '{s += $7} END {print s}' "$WORK/rows")
        local tgt; tgt=$(target_of "$name" "$BACKEND")
        local rps; rps=$(awk '{printf "%.0f", $3}' <<<"$med")
        local mark=""
        if [[ $tgt != - ]]; then
          mark=$(awk -v r="$rps" -v t="$tgt" 'BEGIN { print (r >= t ? " ✓" : " ✗") }')
        fi
        awk -v all="$all" -v non="$non2xx" -v errs="$errs" -v tgt="$tgt$mark" -v rps="$rps" '{
          per = ($8 > 0) ? sprintf("%.0f", $3 * 100 / $8) : "-"
          printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s |\n",
            $1, $2, rps, $4, $5, all, non, errs, $8, per, $14, $17, $15, $16, tgt }' <<<"$med"
      done
    done
    echo
    echo "non-2xx = wrk's count of statuses >= 400 plus, for code exchange and refresh, any status other than 200 (minting: other than 302). CPU figures are % of one core over the median run: the server process (all its threads, pinned to cpu$SERVER_CPU), wrk (pinned to cpu$LOAD_CPU), the PostgreSQL and Redis server processes (not pinned; on either CPU), and \"other load\" = busy time on each pinned CPU not explained by the server / wrk (PostgreSQL/Redis, another workload on the machine, kernel). req/s per server core = req/s ÷ server CPU share: an estimate of one dedicated core's capacity when the server was not saturated."
    if [[ ${#NOTES[@]} -gt 0 ]]; then
      echo
      echo "Notes:"
      local n; for n in "${NOTES[@]}"; do echo "- $n"; done
    fi
    local warns; warns=$(grep -cE ' (WARN|ERROR) ' "$WORK/server.log" || true)
    echo
    echo "Server log: $warns WARN/ERROR line(s)."
    if [[ $warns -gt 0 ]]; then
      echo
      echo '```'
      grep -E ' (WARN|ERROR) ' "$WORK/server.log" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-300 | sort | uniq -c | sort -rn | head -n 10
      echo '```'
    fi
  } >"$file"
}

# ---------------------------------------------------------------- main --
run_backend() {
  BACKEND=$1
  NOTES=()
  WORK=$(mktemp -d /tmp/xacthuc-bench.XXXXXX)
  cp "$BIN_SRC" "$WORK/xacthuc" # a concurrent rebuild must not swap the binary mid-run
  RUNS_FILE="$WORK/runs"; : >"$RUNS_FILE"
  RAW_LOG="$RESULTS_DIR/$BACKEND-$STAMP.raw.log"; : >"$RAW_LOG"
  : >"$WORK/rt_pool"
  case $BACKEND in
    sqlite)
      REDIS_PREFIX=""
      BACKEND_LABEL="SQLite + in-memory store"
      ;;
    postgres)
      command -v psql >/dev/null || die "psql is required for the postgres backend"
      pg_admin "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" || die "cannot reach PostgreSQL at $PG_HOST:$PG_PORT as ${PG_USER:-postgres or root}"
      pg_admin "CREATE DATABASE $PG_DB" || die "cannot create database $PG_DB"
      PG_CREATED=1
      redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping >/dev/null || die "Redis at $REDIS_HOST:$REDIS_PORT does not answer"
      REDIS_PREFIX="bench:$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n'):"
      BACKEND_LABEL="PostgreSQL + Redis"
      ;;
    *) die "unknown backend $BACKEND (sqlite or postgres)" ;;
  esac
  backend_env "$BACKEND"
  log "== $BACKEND_LABEL (work dir $WORK)"
  setup_backend_data
  start_server
  sleep 2
  RSS_IDLE=$(rss_kb)
  log "idle RSS ${RSS_IDLE} kB"
  login
  local name
  for name in $CASES; do
    log "case $name"
    "case_$name"
  done
  sleep 1
  RSS_AFTER=$(rss_kb)
  RSS_PEAK=$(hwm_kb)
  if [[ $BACKEND == postgres ]]; then
    local keys; keys=$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "${REDIS_PREFIX}*" | wc -l)
    log "redis keys under $REDIS_PREFIX: $keys"
    [[ $keys -gt 0 ]] || NOTES+=("no Redis keys under $REDIS_PREFIX: the server may not have used Redis")
  fi
  local report="$RESULTS_DIR/$BACKEND-$STAMP.md"
  write_report "$report"
  cp "$WORK/server.log" "$RESULTS_DIR/$BACKEND-$STAMP.server.log"
  REPORTS+=("$report")
  stop_server
  # Tear down this backend's state before the next one (the EXIT trap covers failures).
  if [[ -n $REDIS_PREFIX ]]; then
    redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" --scan --pattern "${REDIS_PREFIX}*" \
      | xargs -r -n 500 redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" UNLINK >/dev/null || true
    REDIS_PREFIX=""
  fi
  if [[ -n $PG_CREATED ]]; then pg_admin "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null || true; PG_CREATED=""; fi
  [[ $KEEP_WORK == 1 ]] && log "kept $WORK" || rm -rf "$WORK"
  WORK=""
}

main() {
  ensure_tools
  build
  mkdir -p "$RESULTS_DIR"
  REPORTS=()
  local t0=$SECONDS b
  for b in $BACKENDS; do run_backend "$b"; done
  log "done in $((SECONDS - t0)) s"
  for r in "${REPORTS[@]}"; do echo; cat "$r"; done
  echo
  echo "Reports: ${REPORTS[*]}"
}

main "$@"
