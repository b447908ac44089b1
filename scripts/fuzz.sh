#!/usr/bin/env bash
# Fuzzes the PKI's parsing entry points (CMS, certificates, OCSP responses) with cargo fuzz.
# Usage: scripts/fuzz.sh [seconds per target, default 60] [target…]
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Crashes land in
# fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/ (both ignored by git).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  targets=(cms certificate ocsp_response)
fi
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "== $t: ${seconds}s"
  cargo +nightly fuzz run --fuzz-dir fuzz "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 2>&1 | tail -n 12
done
