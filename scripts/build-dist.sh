#!/usr/bin/env bash
# Builds the shipped binary, target/dist/vitals: the `dist` profile (Cargo.toml) linked with
# the functions an agent runs at rest placed together (scripts/cc-hot.sh, the list in
# deploy/hot-symbols.txt; docs/DEPLOY.md, "Footprint"). Arguments go to cargo (--locked).
#
# Then checks the list against the build: it fails when the link found fewer than
# VITALS_HOT_MIN percent (default 80) of the listed functions, by exact symbol or by name
# without hashes, and warns when fewer were found by exact symbol (after a version bump
# or a new compiler, which change every hash). A list goes stale as functions are
# renamed, removed or inlined differently; regenerate it with scripts/hot-symbols.py
# (docs/DEPLOY.md says how). VITALS_HOT_MIN=0 builds whatever the list.
#
#   scripts/build-dist.sh --locked && ./target/dist/vitals --version
set -euo pipefail
cd "$(dirname "$0")/.."
min="${VITALS_HOT_MIN:-80}"
target="${CARGO_TARGET_DIR:-target}"
# The list's digest as a cfg that no code reads: cargo relinks when the list changes (it
# tracks rustc's arguments, not the files a linker reads); symbol names do not depend on it.
list_digest="$(sha256sum deploy/hot-symbols.txt | cut -c1-16)"
cargo rustc --profile dist -p vitals --bin vitals "$@" -- -C linker="$PWD/scripts/cc-hot.sh" \
  --cfg "vitals_hot_symbols=\"$list_digest\""
# The link's report sits beside the file that cargo hard-links to target/dist/vitals.
report=""
for linked in "$target"/dist/deps/vitals-*; do
  [[ "$linked" -ef "$target/dist/vitals" && -r "$linked.hot-symbols" ]] && report="$linked.hot-symbols"
done
if [[ -z "$report" ]]; then
  echo "build-dist.sh: target/dist/vitals was linked without the hot functions first" \
    "(no report from scripts/cc-hot.sh; its message says why)" >&2
  exit 1
fi
read -r _ listed _ exact _ byname _ symbols < "$report"
found=$((exact + byname))
echo "build-dist.sh: hot functions found $found of $listed listed ($exact exactly," \
  "$byname by name without hashes), $symbols symbols placed first"
if ((listed == 0 || found * 100 < min * listed)); then
  echo "build-dist.sh: fewer than $min % of deploy/hot-symbols.txt found: the list is stale;" \
    "regenerate it (scripts/hot-symbols.py) or build with VITALS_HOT_MIN=0" >&2
  exit 1
fi
if ((exact * 100 < min * listed)); then
  echo "build-dist.sh: warning: fewer than $min % of the list found by exact name (a new" \
    "version or compiler changes the hashes): every instance of each name is placed" \
    "first, about 0.5 MiB more resident per agent; regenerate the list" >&2
fi
