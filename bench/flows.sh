#!/usr/bin/env bash
# Whole flows under load: N virtual citizens each register (mobile subscriber: form, SMS code,
# password), log in (password, SMS code) and exchange the code at /token with PKCE, driven by
# bench/flows.py, against one node (SQLite, or PostgreSQL + Redis) and three nodes (PostgreSQL +
# Redis behind haproxy, one standalone sandbox). See bench/README.md, "Whole flows".
#
#   bench/flows.sh                                  # sqlite, postgres, cluster3; concurrency 4 16
#   TOPOLOGIES=cluster3 CONCURRENCY=16 DURATION=20 bench/flows.sh
#   LOGIN_ONLY=1 PG_DB=xacthuc_fill TOPOLOGIES=postgres bench/flows.sh   # logins of filled accounts
#
# Knobs: TOPOLOGIES (sqlite postgres cluster3), CONCURRENCY ("4 16"), DURATION (30 s),
# IDENTITIES (seeded citizens, 20000), BIN (default: target/release/xacthuc, built unless
# SKIP_BUILD=1), PORT (18082: the node, or the load balancer), PG_USER/PG_HOST/PG_PORT, PG_DB
# (default: a fresh database per row, dropped afterwards), REDIS_PORT (16399: a redis-server of
# our own, started and stopped here), SERVER_CPU (0), LOAD_CPU (1), NICE, KEEP_WORK.
# LOGIN_ONLY=1 (with PG_DB, an existing database, e.g. from bench/fill_accounts.sh, left as it
# is): the flow is log in + token for LOGIN_SAMPLE (3000) accounts of that database taken at
# random.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
TOPOLOGIES=${TOPOLOGIES:-"sqlite postgres cluster3"}
CONCURRENCY=${CONCURRENCY:-"4 16"}
DURATION=${DURATION:-30}
IDENTITIES=${IDENTITIES:-20000}
PORT=${PORT:-18082}
REDIS_PORT=${REDIS_PORT:-16399}
PG_USER=${PG_USER:-postgres}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_DB=${PG_DB:-}
LOGIN_ONLY=${LOGIN_ONLY:-0}
LOGIN_SAMPLE=${LOGIN_SAMPLE:-3000}
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}
KEEP_WORK=${KEEP_WORK:-0}
# shellcheck source=bench/common.sh
source "$BENCH_DIR/common.sh"
own_session "$@"

BASE="http://localhost:$PORT"
REDIRECT_URI="http://127.0.0.1:9/cb"
CLK_TCK=$(getconf CLK_TCK)
RESULTS_DIR="$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
unset DATABASE_URL REDIS_URL XACTHUC_CONFIG

log() { printf '[flows %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PIDS=()   # everything started for the current row: nodes, sandbox, haproxy, redis
NODES=()  # the xacthuc nodes among them
WORK=""
DB=""     # a database made here, dropped after its row
stop_all() {
  local p
  for p in "${PIDS[@]}"; do kill -INT "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
  NODES=()
  if [[ -n $DB ]]; then
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "DROP DATABASE IF EXISTS $DB" || true
    DB=""
  fi
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_all
  if [[ -n $WORK && -d $WORK && $KEEP_WORK != 1 ]]; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for t in curl jq taskset python3 openssl; do command -v "$t" >/dev/null || die "$t is required"; done
if [[ $TOPOLOGIES == *cluster3* ]]; then
  command -v haproxy >/dev/null || die "haproxy is required for cluster3 (apt-get install haproxy)"
fi
[[ $LOGIN_ONLY == 1 && -z $PG_DB ]] && die "LOGIN_ONLY=1 needs PG_DB (a filled database)"

if [[ -z ${BIN:-} ]]; then
  cd "$ROOT"
  [[ ${SKIP_BUILD:-0} == 1 ]] || cargo build --release --quiet --bin xacthuc
  BIN="$(cargo metadata --format-version 1 --no-deps | jq -r .target_directory)/release/xacthuc"
fi
[[ -x $BIN ]] || die "no binary at $BIN"
WORK=$(mktemp -d /tmp/xacthuc-flows.XXXXXX)
cp "$BIN" "$WORK/xacthuc"

# The sandbox carrier knows citizen k (the driver's numbering): SIM +8486kkkkkkk registered to
# CCCD 040195kkkkkk (Nghệ An, born 1995).
FULL_NAME="Nguyễn Thị Lan"
for k in $(seq 1 "$IDENTITIES"); do
  printf '[[subscribers]]\nphone = "086%07d"\nid_number = "040195%06d"\nfull_name = "%s"\nbirthdate = "01/01/1995"\n\n' \
    "$k" "$k" "$FULL_NAME"
done >"$WORK/seed.toml"

COMMON_ENV=(
  "XACTHUC_LOG=warn"
  "XACTHUC__SERVER__PUBLIC_URL=$BASE"
  "XACTHUC__THEME__DIR=$ROOT/themes/default"
  "XACTHUC__SANDBOX__SEED_FILE=$WORK/seed.toml"
  # Every virtual citizen comes from 127.0.0.1 (or the load balancer): no real crowd does.
  "XACTHUC__LIMITS__AUTHORIZE_PER_IP_PER_MINUTE=0"
  "XACTHUC__LIMITS__REGISTRATIONS_PER_IP_PER_HOUR=0"
  "XACTHUC__PASSWORDS__MAX_FAILED_LOGINS_PER_IP=1000000"
  "XACTHUC__OTP__MAX_PER_IP_PER_HOUR=1000000000"
  "XACTHUC__OTP__MAX_SMS_PER_MINUTE=1000000000"
)

wait_http() { # url pid what
  for _ in $(seq 300); do
    curl -s -o /dev/null --max-time 1 -f "$1" && return 0
    kill -0 "$2" 2>/dev/null || die "$3 exited (logs in $WORK)"
    sleep 0.1
  done
  die "$3 did not come up"
}

start_redis() {
  nice -n "$NICE" taskset -c "$SERVER_CPU" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 \
    --save '' --appendonly no >"$WORK/redis.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "redis-server did not start"
}

# The row's database: PG_DB as it is, or a fresh one (DB, dropped by stop_all).
row_db() {
  if [[ -n $PG_DB ]]; then
    ROW_DB=$PG_DB
    return
  fi
  DB="xacthuc_flows_$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
  psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qc "CREATE DATABASE $DB"
  ROW_DB=$DB
}

start_node() { # name bind env...
  local name=$1 bind=$2
  shift 2
  (cd "$WORK" && exec env "${COMMON_ENV[@]}" "$@" "XACTHUC__SERVER__BIND=$bind" \
    nice -n "$NICE" taskset -c "$SERVER_CPU" "$WORK/xacthuc" serve) >>"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  NODES+=($!)
  wait_http "http://$bind/readyz" "$!" "$name"
}

# Starts the row's topology; sets ROW_ENV (the environment for `xacthuc client add`) and
# SANDBOX_URL (where the driver reads captcha answers and SMS).
start_topology() {
  local topology=$1
  SANDBOX_URL=$BASE
  case $topology in
    sqlite)
      rm -rf "$WORK/data"
      ROW_ENV=()
      start_node node0 "127.0.0.1:$PORT"
      ;;
    postgres)
      start_redis
      row_db
      ROW_ENV=("DATABASE_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$ROW_DB" "REDIS_URL=redis://127.0.0.1:$REDIS_PORT")
      if [[ -n $PG_DB ]]; then
        # A kept database keeps its signing keys, encrypted with the first run's key-encryption
        # key: keep that key too (gitignored, beside the reports).
        mkdir -p "$RESULTS_DIR"
        [[ -s $RESULTS_DIR/kek-$PG_DB ]] || openssl rand -base64 32 >"$RESULTS_DIR/kek-$PG_DB"
        ROW_ENV+=("XACTHUC__KEYS__ENCRYPTION_KEY=$(cat "$RESULTS_DIR/kek-$PG_DB")")
      fi
      start_node node0 "127.0.0.1:$PORT" "${ROW_ENV[@]}"
      ;;
    cluster3)
      start_redis
      row_db
      local sb_port=$((PORT + 10)) i
      SANDBOX_URL="http://127.0.0.1:$sb_port"
      (cd "$WORK" && exec nice -n "$NICE" taskset -c "$SERVER_CPU" "$WORK/xacthuc" sandbox \
        --seed "$WORK/seed.toml" --bind "127.0.0.1:$sb_port" --pki-dir "$WORK/sandbox-pki") \
        >"$WORK/sandbox.log" 2>&1 &
      PIDS+=($!)
      wait_http "$SANDBOX_URL/sandbox/sms/outbox" "$!" "sandbox"
      # One configuration for every node: the issuer is the load balancer, one key-encryption
      # key, one database, one Redis, and the standalone sandbox as carrier and SMS gateway. The
      # nodes keep their own sandbox routes on only for the captcha answers (read from Redis).
      ROW_ENV=(
        "DATABASE_URL=postgres://$PG_USER@$PG_HOST:$PG_PORT/$ROW_DB"
        "REDIS_URL=redis://127.0.0.1:$REDIS_PORT"
        "XACTHUC__KEYS__ENCRYPTION_KEY=$(openssl rand -base64 32)"
        "XACTHUC__CONNECTORS__CARRIER_URL=$SANDBOX_URL/sandbox/carrier"
        "XACTHUC__CONNECTORS__SMS_URL=$SANDBOX_URL/sandbox/sms"
        "XACTHUC__CONNECTORS__BHXH_URL=$SANDBOX_URL/sandbox/bhxh"
        "XACTHUC__CONNECTORS__MAIL_URL=$SANDBOX_URL/sandbox/mail"
      )
      # Node 0 first: it migrates and makes the signing keys the others then load.
      for i in 0 1 2; do start_node "node$i" "127.0.0.1:$((PORT + 1 + i))" "${ROW_ENV[@]}"; done
      cat >"$WORK/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$PORT
  default_backend nodes
backend nodes
  balance roundrobin
  server n0 127.0.0.1:$((PORT + 1))
  server n1 127.0.0.1:$((PORT + 2))
  server n2 127.0.0.1:$((PORT + 3))
CFG
      nice -n "$NICE" taskset -c "$SERVER_CPU" haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
      PIDS+=($!)
      wait_http "$BASE/readyz" "$!" "haproxy"
      ;;
    *) die "unknown topology $topology (sqlite, postgres, cluster3)" ;;
  esac
}

ticks() { # CPU ticks of every process started for the row
  local p sum=0
  for p in "${PIDS[@]}"; do sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done
  echo "$sum"
}
rss_mb() { # peak RSS (VmHWM) of each node, MB, comma-separated
  local p out=()
  for p in "${NODES[@]}"; do out+=("$(awk '$1 == "VmHWM:" {printf "%d", $2 / 1024}' "/proc/$p/status")"); done
  (IFS=,; echo "${out[*]}")
}

ROWS="$WORK/rows"
: >"$ROWS"
NEXT=1 # the next unused citizen: each row registers new ones (SQLite rows start empty anyway)
for topology in $TOPOLOGIES; do
  for c in $CONCURRENCY; do
    start_topology "$topology"
    out=$(cd "$WORK" && env "${ROW_ENV[@]}" "${COMMON_ENV[@]}" "$WORK/xacthuc" client add --name flows \
      --redirect-uri "$REDIRECT_URI" --grant authorization_code --skip-consent \
      --scope openid --scope profile)
    client=(--client-id "$(jq -r .client_id <<<"$out")" --client-secret "$(jq -r .client_secret <<<"$out")")
    who=(--first "$NEXT" --identities "$((IDENTITIES - NEXT + 1))")
    if [[ $LOGIN_ONLY == 1 ]]; then
      sample=$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -At -F ' ' -c \
        "SELECT a.id_number, p.e164 FROM accounts a JOIN phones p ON p.account_id = a.id AND p.is_default
         WHERE a.id_number IS NOT NULL ORDER BY random() LIMIT $LOGIN_SAMPLE")
      accounts=$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -At -c "SELECT count(*) FROM accounts")
      who=(--login-only --identities "$(wc -l <<<"$sample")"
        --id-numbers "$(cut -d' ' -f1 <<<"$sample" | paste -sd,)"
        --phones "$(cut -d' ' -f2 <<<"$sample" | paste -sd,)")
      who+=(--password "${PASSWORD:-Aa@123456}") # bench/fill_accounts.sh's
    fi
    sleep 1
    t0=$(ticks); s0=$(date +%s%N)
    log "$topology, concurrency $c, ${DURATION}s"
    TIMEFORMAT='%U %S'
    { time nice -n "$NICE" taskset -c "$LOAD_CPU" python3 -B "$BENCH_DIR/flows.py" --url "$BASE" \
      --sandbox-url "$SANDBOX_URL" "${client[@]}" --redirect-uri "$REDIRECT_URI" \
      --full-name "$FULL_NAME" "${who[@]}" --concurrency "$c" --duration "$DURATION" \
      >"$WORK/result"; } 2>"$WORK/time"
    t1=$(ticks); s1=$(date +%s%N)
    cpu=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v w=$((s1 - s0)) 'BEGIN {printf "%.0f", 100 * d / hz / (w / 1e9)}')
    driver=$(awk -v w=$((s1 - s0)) '{printf "%.0f", 100 * ($1 + $2) / (w / 1e9)}' "$WORK/time")
    rss=$(rss_mb)
    jq -c --arg t "$topology" --arg rss "$rss" --argjson cpu "$cpu" --argjson driver "$driver" \
      --arg accounts "${accounts:-}" \
      '. + {topology: $t, rss_mb: $rss, server_cpu: $cpu, driver_cpu: $driver, accounts: $accounts}' \
      "$WORK/result" | tee -a "$ROWS" >&2
    NEXT=$((NEXT + $(jq .citizens_used "$WORK/result")))
    stop_all
  done
done

mkdir -p "$RESULTS_DIR"
REPORT="$RESULTS_DIR/flows-$STAMP.md"
steps=$(jq -r -s '.[0].steps_ms | keys_unsorted | join(" ")' "$ROWS")
{
  echo "## xacthuc whole flows ($(basename "$BIN"), $( [[ $LOGIN_ONLY == 1 ]] && echo "login + token of accounts in $PG_DB" || echo "register + login + token"))"
  echo
  echo "- $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc --all) CPUs; server side (nodes, sandbox, haproxy, Redis) \`taskset -c $SERVER_CPU\`, driver \`taskset -c $LOAD_CPU\`, nice $NICE; PostgreSQL not pinned"
  echo
  printf '| topology | conc. | flows/s | flow p50/p95/p99 ms |'
  for s in $steps; do printf ' %s p50/p95/p99 ms |' "$s"; done
  echo ' busy | errors | peak RSS MB per node | server CPU % | driver CPU % |'
  sep='|---|---:|---:|---:|'
  for _ in $steps; do sep+='---:|'; done
  echo "$sep---:|---|---|---:|---:|"
  jq -r -s --arg steps "$steps" '.[] | . as $r |
    "| \(.topology) | \(.concurrency) | \(.flows_per_s) | \(.flow_ms.p50)/\(.flow_ms.p95)/\(.flow_ms.p99) | " +
    ([$steps | split(" ")[] | $r.steps_ms[.] | "\(.p50)/\(.p95)/\(.p99)"] | join(" | ")) +
    " | \(.busy) | \(.errors | to_entries | map("\(.key) ×\(.value)") | join(", ") | if . == "" then "0" else . end) | \(.rss_mb) | \(.server_cpu) | \(.driver_cpu) |"' "$ROWS"
  [[ $LOGIN_ONLY != 1 ]] || { echo; echo "Accounts in the database: $(jq -r -s '.[0].accounts' "$ROWS")"; }
} >"$REPORT"
cat "$REPORT"
echo
echo "Report: $REPORT"
