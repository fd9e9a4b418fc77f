#!/usr/bin/env python3
"""Reads the agents' logs a `scripts/scale.py --logs DIR` run kept, for what its RESULT
line sums up: which pairs formed last, and how a kill's death spread.

    python3 scripts/scale-logs.py pairs DIR [--top 20]
        the pairs (observer, member) whose first `alive` came last, with both start times
        (from the first start): who missed whom during formation
    python3 scripts/scale-logs.py kill DIR VICTIM [--top 8]
        each survivor's `dead` verdict on VICTIM, from the first survivor's: quantiles and
        the last observers, with when each first suspected it

Reads only the `vitals agent started` and `member status changed` lines (stdlib only).
"""
import argparse, datetime, os, re

CHANGE = re.compile(r'^(\S+)\s+\w+\s+\S+ member status changed member=(\S+) .*from="(\w+)" to="(\w+)"')


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def read(directory):
    """(starts by agent, [(time, observer, member, from, to)])."""
    starts, changes = {}, []
    for file in sorted(os.listdir(directory)):
        observer = file.removesuffix(".log")
        with open(os.path.join(directory, file)) as lines:
            for line in lines:
                if "vitals agent started" in line:
                    starts[observer] = stamp(line.split()[0])
                elif (m := CHANGE.match(line)) is not None:
                    changes.append((stamp(m.group(1)), observer, m.group(2), m.group(3), m.group(4)))
    return starts, changes


def pairs(directory, top):
    starts, changes = read(directory)
    t0 = min(starts.values())
    first = {}
    for t, observer, member, _, to in changes:
        if to == "alive":
            first.setdefault((observer, member), t)
    names = sorted(starts)
    late = sorted(
        ((first.get((o, m), float("inf")) - t0, o, m) for o in names for m in names if o != m),
        reverse=True,
    )
    print(f"{len(names)} agents, the last started {max(starts.values()) - t0:.1f} s after the first")
    for t, o, m in late[:top]:
        print(f"{t:7.1f} s  {o} first held {m} alive (started at {starts[o] - t0:.1f} s and {starts[m] - t0:.1f} s)")


def kill(directory, victim, top):
    _, changes = read(directory)
    dead, suspect = {}, {}
    for t, observer, member, _, to in changes:
        if member != victim or observer == victim or observer in dead:
            continue
        if to == "dead":
            dead[observer] = t
        elif to == "suspect":
            suspect[observer] = t
        elif to == "alive":
            suspect.pop(observer, None)  # a suspicion refuted before the kill
    if not dead:
        print(f"no survivor holds {victim} dead")
        return
    t0 = min(dead.values())
    order = sorted((t - t0, o) for o, t in dead.items())
    n = len(order)
    quantiles = [f"{q}: {order[round(q * (n - 1))][0]:.2f} s" for q in (0.5, 0.9, 0.99, 1.0)]
    print(f"{n} survivors hold {victim} dead, after the first: " + ", ".join(quantiles))
    for t, o in order[n - top:] if top > 0 else []:
        s = suspect.get(o)
        held = f"suspected {s - t0:+.2f} s" if s is not None else "no suspicion logged"
        print(f"  {o}: dead at +{t:.2f} s, {held}")


ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
sub = ap.add_subparsers(dest="what", required=True)
p = sub.add_parser("pairs")
p.add_argument("dir")
p.add_argument("--top", type=int, default=20)
k = sub.add_parser("kill")
k.add_argument("dir")
k.add_argument("victim")
k.add_argument("--top", type=int, default=8)
opts = ap.parse_args()
if opts.what == "pairs":
    pairs(opts.dir, opts.top)
else:
    kill(opts.dir, opts.victim, opts.top)
