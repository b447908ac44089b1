#!/usr/bin/env bash
# Login bursts: full browser-style password logins at rising concurrency against the release
# server on the embedded defaults (SQLite + in-memory store), the server pinned to one core and
# the load driver (bench/login_burst.py) to the other. Reports logins/s, latency and the
# server's peak RSS per concurrency. See bench/README.md, "Login bursts".
#
#   bench/login_burst.sh                          # concurrency 4 16 64 256, 20 s each
#   CONCURRENCY="4 64" DURATION=10 bench/login_burst.sh
#   BIN=/path/to/xacthuc bench/login_burst.sh     # measure a given binary (e.g. an older build)
#   METHOD=remote_signature bench/login_burst.sh  # signature logins, approved in the sandbox
#
# Knobs: METHOD (password | remote_signature | sim_signature), CONCURRENCY, DURATION (s), PORT (18081), SERVER_CPU (0), LOAD_CPU (1), NICE (-10 as
# root), BIN (skip the build), SKIP_BUILD (0), KEEP_WORK (0), CARGO_TARGET_DIR (honoured).
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
CONCURRENCY=${CONCURRENCY:-"4 16 64 256"}
DURATION=${DURATION:-20}
PORT=${PORT:-18081}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEEP_WORK=${KEEP_WORK:-0}
METHOD=${METHOD:-password}
case $METHOD in password | remote_signature | sim_signature) ;; *)
  echo "METHOD must be password, remote_signature or sim_signature" >&2
  exit 2
  ;;
esac
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"
own_session "$@"

BASE="http://localhost:$PORT" # a domain name: passkeys refuse an IP public URL
REDIRECT_URI_ENC="http%3A%2F%2F127.0.0.1%3A9%2Fcb"
ACCOUNT_PASSWORD='Aa@123456'
HOLDER_PIN='123456'
RESULTS_DIR="$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
CLK_TCK=$(getconf CLK_TCK)
unset DATABASE_URL REDIS_URL XACTHUC_CONFIG # the embedded default

log() { printf '[login-burst %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SERVER_PID=""
WORK=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_server
  if [[ -n $WORK && -d $WORK && $KEEP_WORK != 1 ]]; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for t in curl jq taskset python3; do command -v "$t" >/dev/null || die "$t is required"; done

if [[ -z ${BIN:-} ]]; then
  cd "$ROOT"
  target_dir=$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)
  if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release (target dir $target_dir)"
    cargo build --release --quiet --bin xacthuc
  fi
  BIN="$target_dir/release/xacthuc"
  REV=$(git -C "$ROOT" rev-parse --short HEAD)
  [[ -z $(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock) ]] || REV="$REV+dirty"
else
  REV="given binary $BIN"
fi
[[ -x $BIN ]] || die "no binary at $BIN"
WORK=$(mktemp -d /tmp/xacthuc-login-burst.XXXXXX)
cp "$BIN" "$WORK/xacthuc" # a concurrent rebuild must not swap the binary mid-run

ENV=(
  "XACTHUC_LOG=warn"
  "XACTHUC__SERVER__BIND=127.0.0.1:$PORT"
  "XACTHUC__SERVER__PUBLIC_URL=$BASE"
  "XACTHUC__THEME__DIR=$ROOT/themes/default"
  # The password path alone: no SMS step after it.
  "XACTHUC__LOGIN__THEN__PASSWORD="
)
# Builds with per-IP limits (on /authorize, on password checks in flight or failed): every
# virtual browser here shares 127.0.0.1, as no real burst does.
if grep -q -a 'authorize_per_ip_per_minute' "$WORK/xacthuc"; then
  ENV+=("XACTHUC__LIMITS__AUTHORIZE_PER_IP_PER_MINUTE=0")
fi
if grep -q -a 'max_failed_logins_per_ip' "$WORK/xacthuc"; then
  ENV+=("XACTHUC__PASSWORDS__MAX_FAILED_LOGINS_PER_IP=1000000")
fi
# Signature logins: the sandbox provider (in the server, as in development) holds one signer
# per account, whose certificate from the sandbox CA names the account's ID number.
ACCOUNTS=$(tr ' ' '\n' <<<"$CONCURRENCY" | sort -n | tail -1)
if [[ $METHOD != password ]]; then
  {
    for i in $(seq 1 "$ACCOUNTS"); do
      id=$(printf '00109%07d' "$i")
      if [[ $METHOD == remote_signature ]]; then
        printf '[[remote_signature]]\nuser_id = "bench%d"\n' "$i"
      else
        printf '[[sim_signature]]\nphone = "083%07d"\n' "$i"
      fi
      printf 'uids = ["CCCD:%s"]\nfull_name = "Nguyen Van A"\npin = "%s"\n\n' "$id" "$HOLDER_PIN"
    done
  } >"$WORK/seed.toml"
  ENV+=("XACTHUC__SANDBOX__SEED_FILE=$WORK/seed.toml")
fi
xacthuc() { (cd "$WORK" && env "${ENV[@]}" "$WORK/xacthuc" "$@"); }

out=$(xacthuc client add --name burst --redirect-uri "http://127.0.0.1:9/cb" \
  --grant authorization_code --skip-consent --scope openid --scope profile)
CLIENT_ID=$(jq -r .client_id <<<"$out")
# One citizen per virtual browser of the largest row: a burst is many people logging in at once
# (one name is throttled per name: at most `max_failed_logins` checks in flight).
log "creating $ACCOUNTS accounts"
NAMES=()
for i in $(seq 1 "$ACCOUNTS"); do
  id=$(printf '00109%07d' "$i") # Hà Nội, born 1990s: a valid CCCD
  # IAL3: what a signature proves (a password login does not care).
  XACTHUC_ACCOUNT_PASSWORD="$ACCOUNT_PASSWORD" xacthuc account add --id-number "$id" \
    --name "Nguyen Van A" --birthdate 12/06/1990 --phone "082$(printf '%07d' "$i")" --ial 3 >/dev/null
  case $METHOD in
    password) NAMES+=("$id") ;;
    remote_signature) NAMES+=("bench$i") ;;
    sim_signature) NAMES+=("$(printf '083%07d' "$i")") ;;
  esac
done
USERNAMES=$(IFS=,; echo "${NAMES[*]}")
AUTHORIZE_PATH="/authorize?response_type=code&client_id=$CLIENT_ID&redirect_uri=$REDIRECT_URI_ENC&scope=openid%20profile&state=x"

start_server() {
  curl -s -o /dev/null --max-time 1 "$BASE/healthz" && die "something already listens on $BASE"
  (cd "$WORK" && exec env "${ENV[@]}" nice -n "$NICE" taskset -c "$SERVER_CPU" "$WORK/xacthuc" serve) \
    >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 200); do
    curl -s -o /dev/null --max-time 1 "$BASE/healthz" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; die "server exited"; }
    sleep 0.1
  done
  die "server did not become healthy"
}
status_kb() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$SERVER_PID/status"; }
proc_ticks() { awk '{print $14 + $15}' "/proc/$SERVER_PID/stat"; }

ROWS="$WORK/rows"
: >"$ROWS"
for c in $CONCURRENCY; do
  # A fresh server per level, so each level's peak RSS (VmHWM) is its own.
  start_server
  sleep 1
  idle=$(status_kb VmRSS)
  t0=$(proc_ticks); s0=$(date +%s%N)
  log "concurrency $c for ${DURATION}s (server pid $SERVER_PID, idle RSS $((idle / 1024)) MB)"
  # bash's `time` gives the driver's own CPU use: a saturated driver would understate the server.
  TIMEFORMAT='%U %S'
  { time nice -n "$NICE" taskset -c "$LOAD_CPU" python3 "$BENCH_DIR/login_burst.py" \
    --port "$PORT" --authorize-path "$AUTHORIZE_PATH" --username "$USERNAMES" \
    --password "$ACCOUNT_PASSWORD" --method "$METHOD" --pin "$HOLDER_PIN" \
    --concurrency "$c" --duration "$DURATION" >"$WORK/result"; } 2>"$WORK/time"
  result=$(cat "$WORK/result")
  t1=$(proc_ticks); s1=$(date +%s%N)
  driver=$(awk -v w=$((s1 - s0)) '{printf "%.0f", 100 * ($1 + $2) / (w / 1e9)}' "$WORK/time")
  peak=$(status_kb VmHWM)
  threads=$(status_kb Threads)
  cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v w=$((s1 - s0)) 'BEGIN {printf "%.0f", 100 * d / hz / (w / 1e9)}')
  stop_server
  log "  $result; peak RSS $((peak / 1024)) MB, server CPU $cpu %, driver CPU $driver %"
  jq -c --argjson idle "$idle" --argjson peak "$peak" --argjson cpu "$cpu" --argjson threads "$threads" \
    --argjson driver "$driver" \
    '. + {idle_kb: $idle, peak_kb: $peak, server_cpu: $cpu, threads: $threads, driver_cpu: $driver}' <<<"$result" >>"$ROWS"
done

mkdir -p "$RESULTS_DIR"
REPORT="$RESULTS_DIR/login-burst-$METHOD-$STAMP.md"
{
  echo "## xacthuc login bursts: $METHOD ($REV)"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc --all) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'))"
  echo "- server: \`nice -n $NICE taskset -c $SERVER_CPU xacthuc serve\`, embedded default (SQLite + in-memory store), \`[login.then] password = []\`; a fresh server per row"
  if [[ $METHOD == password ]]; then
    echo "- load: \`taskset -c $LOAD_CPU bench/login_burst.py\`, ${DURATION}s per row; a login = GET /authorize, GET /login, POST /login → 302 with a code; a 503 is posted again after Retry-After × U[1, 2)"
  else
    echo "- load: \`taskset -c $LOAD_CPU bench/login_burst.py --method $METHOD\`, ${DURATION}s per row; a login = GET /authorize, GET /login/$METHOD, POST (push), approve in the server's sandbox provider, poll, POST → 302 with a code; the sandbox provider (signing) runs in the server, on its core"
  fi
  echo
  echo "| concurrency | logins/s | vs. first row | login p50 ms | login p99 ms | POST p50 ms | POST p99 ms | busy (503) | errors | peak RSS MB | server CPU % | driver CPU % | threads |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  jq -r -s '(.[0].logins_per_s) as $base | .[] |
    "| \(.concurrency) | \(.logins_per_s) | \(if $base > 0 then ((.logins_per_s * 100 / $base) | floor | tostring) + " %" else "-" end) | \(.login_p50_ms) | \(.login_p99_ms) | \(.post_p50_ms) | \(.post_p99_ms) | \(.busy) | \(.errors) | \((.peak_kb / 1024) | floor) | \(.server_cpu) | \(.driver_cpu) | \(.threads) |"' "$ROWS"
  echo
  if [[ $METHOD == password ]]; then
    echo "login = first request to the code, waits after a busy answer included; POST = each POST /login answered 302 (Argon2 and its queue). Peak RSS = the server's VmHWM."
  else
    echo "login = first request to the code (push, approval, polls included); POST = the final POST /login/$METHOD answered 302 (signature, path and cached OCSP checks, the code). Peak RSS = the server's VmHWM."
  fi
  errs=$(jq -s '[.[].error_samples[]] | unique | .[:5] | join(" | ")' "$ROWS")
  [[ $errs == '""' ]] || echo "Error samples: $errs"
} >"$REPORT"
cat "$REPORT"
echo
echo "Report: $REPORT"
