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
# The releases' commits, for a clone that has main's history but not its tags (a clone of one
# branch, a checkout whose tags were not fetched).
declare -A released=(
  [v0.10.0]=02f6e73d13dce24eaa1c4f7ff6d9890cb06d91fc
)
# A shallow clone may not hold the tag's commit: say so and let the caller decide.
if ! commit="$(git rev-parse --verify --quiet "$tag^{commit}")" &&
  ! commit="$(git rev-parse --verify --quiet "${released[$tag]:-none}^{commit}")"; then
  echo "previous release $tag is not in this clone (shallow?): cannot build it" >&2
  exit 3
fi
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
# Built the way `cargo test` builds (dev-dependency features unified, as in the run that
# precedes this one), so the compiled dependencies are reused: a plain `cargo build` of the
# binary resolves some features differently and recompiles much of the tree. Building the old
# integration tests writes the binary they run, target/debug/xacthuc.
(cd "$dir" && CARGO_TARGET_DIR="$target" cargo test --locked --no-run --test it >&2)
cp "$current" "$bin"
if [ -f "$target/debug/.xacthuc.current" ]; then
  mv -f "$target/debug/.xacthuc.current" "$current"
fi
echo "$commit" >"$dir/.commit"
echo "built $tag in $(($(date +%s) - start)) s" >&2
echo "$bin"
