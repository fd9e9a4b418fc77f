#!/usr/bin/env bash
# Writes the JSON reports of a fixed set of simulator scenarios (every strategy, every fault
# kind, quorum, phi, loss, duplication, reordering, partitions) into DIR, one file each.
# A refactor that must not change behaviour is checked by running it before and after and
# comparing: `scripts/sim-reports.sh /tmp/before` ... `scripts/sim-reports.sh /tmp/after`
# then `diff -r /tmp/before /tmp/after` (no output means byte-identical).
# Usage: scripts/sim-reports.sh DIR [VITALS_BINARY]
set -euo pipefail
out=${1:?usage: scripts/sim-reports.sh DIR [VITALS_BINARY]}
bin=${2:-target/release/vitals}
mkdir -p "$out"
run() {
  local name=$1
  shift
  "$bin" sim --json "$@" >"$out/$name.json"
}
run push-crash       --strategy push --nodes 50 --duration 20m --loss 0.01 --crash 5 --seed 7
run push-ack-restart --strategy push --ack --nodes 20 --duration 20m --loss 0.02 --restart 3 --pause 2 --seed 3
run push-quorum-cut  --strategy push --quorum --nodes 10 --duration 20m --link-loss 0:1:1 --link-loss 1:0:1 --seed 3
run push-phi-dup     --strategy push --detector phi --nodes 20 --duration 20m --loss 0.05 --duplicate 0.05 --reorder 0.05 --crash 2 --seed 5
run pull-monitors    --strategy pull --monitors 3 --nodes 20 --duration 20m --loss 0.02 --crash 3 --restart 2 --seed 4
run pull-quorum      --strategy pull --monitors 3 --quorum --nodes 20 --duration 20m --loss 0.02 --crash 2 --seed 6
run ping-lifeguard   --strategy ping --nodes 30 --duration 20m --loss 0.05 --crash 3 --restart 2 --pause 2 --seed 1
run ping-slow        --strategy ping --nodes 20 --duration 20m --slow 1 --slow-by 4s --slow-for 10m --slow-messages-only --seed 1
run ping-nolg-quorum --strategy ping --no-lifeguard --quorum --nodes 20 --duration 20m --loss 0.1 --crash 2 --seed 2
run ping-nofast      --strategy ping --no-fast-confirm --nodes 20 --duration 20m --loss 0.05 --partition 2m+30s --seed 8
run gossip-crash     --strategy gossip --nodes 100 --duration 10m --loss 0.01 --crash 2 --restart 1 --seed 7
run gossip-quorum    --strategy gossip --quorum --nodes 20 --duration 20m --loss 0.02 --partition 3m+20s --one-way --seed 9
run leader-crash     --strategy leader --nodes 15 --duration 20m --loss 0.02 --crash 3 --restart 2 --pause 2 --seed 2
run leader-partition --strategy leader --nodes 10 --duration 20m --partition 2m+40s --slow 1 --seed 11
