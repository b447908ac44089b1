# Shared by bench/run.sh and bench/login_burst.sh (sourced, not run).

# Scheduling priority of the server and the load generator: on a shared machine a negative nice
# value keeps other work (someone's cargo build) from taking most of the pinned cores. Needs root.
# With autogroup scheduling (sched_autogroup_enabled=1) a process's nice only counts within its
# session, so the script re-runs itself in a session of its own and gives that session's
# autogroup the nice value too. Call as `own_session "$@"` near the top of the script.
own_session() {
  if [[ $EUID == 0 ]]; then NICE=${NICE:--10}; else NICE=${NICE:-0}; fi
  if [[ $NICE != 0 && -z ${BENCH_IN_SESSION:-} && -e /proc/self/autogroup ]] && command -v setsid >/dev/null; then
    export BENCH_IN_SESSION=1 NICE
    setsid "$0" "$@" &
    child=$!
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 130' INT
    trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
    wait "$child"
    exit $?
  fi
  if [[ $NICE != 0 && -n ${BENCH_IN_SESSION:-} ]]; then
    echo "$NICE" >/proc/self/autogroup 2>/dev/null || echo "[bench] could not set the autogroup nice value" >&2
  fi
}

# Stops the server started as SERVER_PID (SIGINT, then SIGKILL after 5 s).
stop_server() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -INT "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=""
}
