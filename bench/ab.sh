#!/usr/bin/env bash
# Before/after: runs bench/run.sh on two release builds alternately, ROUNDS times, so both see
# the same machine (on a shared machine the load of the hour moves every figure by ±20 %).
#
#   bench/ab.sh BEFORE_TARGET_DIR AFTER_TARGET_DIR [ROUNDS]
#
# Each TARGET_DIR holds release/xacthuc (e.g. a worktree of the old commit built with
# CARGO_TARGET_DIR=/tmp/before cargo build --release). Every bench/run.sh knob applies
# (BACKENDS, CASES, QUICK, DURATION, CONNS…); SKIP_BUILD is forced. Prints each run's table rows
# and RSS line, labelled "before N" / "after N"; the full logs stay in $OUT (default /tmp).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
[[ $# -ge 2 ]] || { sed -n '2,11p' "$0"; exit 2; }
BEFORE=$1 AFTER=$2 ROUNDS=${3:-2} OUT=${OUT:-/tmp}
for dir in "$BEFORE" "$AFTER"; do
  [[ -x $dir/release/xacthuc ]] || { echo "no release/xacthuc in $dir" >&2; exit 1; }
done
for round in $(seq "$ROUNDS"); do
  for side in before after; do
    dir=$BEFORE
    [[ $side == after ]] && dir=$AFTER
    log="$OUT/xacthuc-ab-$side-$round.log"
    SKIP_BUILD=1 CARGO_TARGET_DIR=$dir "$ROOT/bench/run.sh" >"$log" 2>&1 || { echo "$side $round failed: $log" >&2; exit 1; }
    grep -E '^- server RSS' "$log" | sed "s/^/$side $round: /"
    grep -E '^\| [a-z_]+ \| [0-9]' "$log" | sed "s/^/$side $round: /"
  done
done
