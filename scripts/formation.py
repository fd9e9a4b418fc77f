#!/usr/bin/env python3
"""Formation benchmark: how long N agents started together take to form a cluster.

Starts N release-build agents on loopback (127.61.0.1..N, port 7946, HTTP 7947), one
right after the other, every one joining through the first, and measures the time from
the first start until every agent's /v1/members lists all N members alive. The API is
polled only to know when that is; the time itself is read from the agents' logs (the
last `member status changed ... to="alive"` line of any agent), so that a slow poll on a
busy machine does not add to it. Process start-up is included. Repeats R
runs (the agents are killed between runs) and prints min / median / p90 / max.

Extra arguments after -- go to every agent (default: the agent's own defaults, preset
`web`, strategy push with its majority quorum).

    cargo build --release -p vitals
    python3 scripts/formation.py 10 --runs 20
    python3 scripts/formation.py 50 --runs 20
    python3 scripts/formation.py 10 --runs 20 -- --strategy ping
"""
import argparse, datetime, glob, json, os, shutil, statistics, subprocess, sys, tempfile, time, urllib.request
import agentargs
from concurrent.futures import ThreadPoolExecutor

ap = argparse.ArgumentParser()
ap.add_argument("nodes", type=int, nargs="?", default=10)
ap.add_argument("--runs", type=int, default=20)
ap.add_argument("--limit", type=float, default=60.0, help="seconds before a run is given up")
ap.add_argument("--subnet", default="127.61.0")
own, extra = agentargs.split()
opts = ap.parse_args(own)
opts.extra = extra
N = opts.nodes
BIN = os.environ.get("VITALS_BIN", "target/release/vitals")


def addr(i, port):
    return f"{opts.subnet}.{i + 1}:{port}"


def start(i, logs):
    args = [BIN, "agent", "--name", f"n{i:03}", "--bind", addr(i, 7946), "--http", addr(i, 7947),
            "--join", addr(0, 7946)] + opts.extra
    log = open(os.path.join(logs, f"n{i:03}.log"), "w")
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)


def alive(i):
    """How many members agent i lists alive (0 if it does not answer yet)."""
    try:
        with urllib.request.urlopen(f"http://{addr(i, 7947)}/v1/members", timeout=1) as r:
            rows = json.loads(r.read().decode())
    except Exception:
        return 0
    return sum(1 for r in rows if r.get("status") == "alive")


def run(number):
    """One run: the seconds from the first start until the last agent listed all N alive.

    Agents are polled in sweeps (every agent not done yet, 8 at a time), one sweep every
    50 ms at most, so that the benchmark does not take the agents' CPU on a small machine.
    """
    logs = tempfile.mkdtemp(prefix=f"vitals-formation-{number}-")
    wall0 = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.monotonic()
    procs = [start(i, logs) for i in range(N)]
    pending = set(range(N))
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            while pending and time.monotonic() - t0 < opts.limit:
                sweep = time.monotonic()
                order = sorted(pending)
                for i, count in zip(order, pool.map(alive, order)):
                    if count == N:
                        pending.discard(i)
                if os.environ.get("FORMATION_DEBUG"):
                    print(f"  {time.monotonic() - t0:.2f} s: {len(pending)} pending", file=sys.stderr)
                time.sleep(max(0.0, 0.05 - (time.monotonic() - sweep)))
        if pending:
            counts = {f"n{i:03}": alive(i) for i in sorted(pending)}
            print(f"run {number}: alive members listed by each agent not formed: {counts}", file=sys.stderr)
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    if pending:
        print(f"run {number}: {len(pending)} agents not formed within {opts.limit} s (logs in {logs})", file=sys.stderr)
        return None
    took = last_alive(logs) - wall0
    shutil.rmtree(logs, ignore_errors=True)
    return took.total_seconds()


def last_alive(logs):
    """The instant of the last transition to alive any agent logged."""
    last = None
    for path in glob.glob(os.path.join(logs, "*.log")):
        for line in open(path):
            if 'to="alive"' in line:
                at = datetime.datetime.fromisoformat(line.split()[0].replace("Z", "+00:00"))
                last = at if last is None or at > last else last
    return last


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


times = []
for number in range(1, opts.runs + 1):
    took = run(number)
    print(f"run {number}: {'-' if took is None else f'{took:.3f} s'}", flush=True)
    times.append(took)
    time.sleep(0.3)  # let the sockets of the last run close
ok = [t for t in times if t is not None]
print(f"N={N} runs={opts.runs} formed={len(ok)} agent args={opts.extra or '(defaults)'}")
if ok:
    print(f"min {min(ok):.3f} s  median {statistics.median(ok):.3f} s  p90 {pct(ok, 90):.3f} s  max {max(ok):.3f} s")
