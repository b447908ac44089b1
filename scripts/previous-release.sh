#!/usr/bin/env bash
# Builds the previous release's `xacthuc` binary (default: tag v0.10.0) for the rolling-upgrade
# test (tests/it/rolling_upgrade.rs) and prints the binary's path on stdout; progress goes to
# stderr. Usage: scripts/previous-release.sh [TAG]
#
# The tag's tree is exported (`git archive`, so the shared repository gains no worktree entry)
# into $CARGO_TARGET_DIR/previous-release/<tag>/ and built there with the SAME target dir as the
# current tree: the dependencies are reused and only the workspace crates are compiled. The
# binary is then copied next to the exported tree (its themes/ and config/ are the old release's,
# and the test runs it from there), and the current tree's target/debug/xacthuc is put back. A finished export is reused as long as the tag names the same commit.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${1:-v0.10.0}"
target="${CARGO_TARGET_DIR:-$PWD/target}"
commit="$(git rev-parse --verify "$tag^{commit}")"
dir="$target/previous-release/$tag"
bin="$dir/xacthuc"

if [ -x "$bin" ] && [ "$(cat "$dir/.commit" 2>/dev/null)" = "$commit" ]; then
  echo "previous release $tag ($commit) already built" >&2
  echo "$bin"
  exit 0
fi

rm -rf "$dir"
mkdir -p "$dir"
git archive "$commit" | tar -x -C "$dir"
echo "building $tag ($commit) in $dir" >&2
start=$(date +%s)
# The build writes target/debug/xacthuc, which the current tree's tests run
# (CARGO_BIN_EXE_xacthuc): keep the current one and put it back.
current="$target/debug/xacthuc"
[ -f "$current" ] && cp -p "$current" "$target/debug/.xacthuc.current"
(cd "$dir" && CARGO_TARGET_DIR="$target" cargo build --locked --bin xacthuc >&2)
cp "$current" "$bin"
if [ -f "$target/debug/.xacthuc.current" ]; then
  mv -f "$target/debug/.xacthuc.current" "$current"
fi
echo "$commit" >"$dir/.commit"
echo "built $tag in $(($(date +%s) - start)) s" >&2
echo "$bin"
