#!/usr/bin/env python3
"""Loopback figures for the ping strategy (the ones to compare with memberlist's).

Starts N agents (default 10) with --strategy ping --preset lan --interval 1s (memberlist's
LAN probe period) on 127.60.0.x and waits until all see each other alive. Then:

- default: measures packets and bytes sent per node per second at rest over 30 s, then
  SIGKILLs three agents in turn and times until the first and until every survivor
  reports each one dead (each is restarted before the next kill);
- with --loss P --minutes M: drops P % of the datagrams between the agents (an nftables
  rule on the loopback input path; needs root and nft) for M minutes and counts the
  false removals (any agent declaring a live agent dead, from the agents' logs), and the
  packets and bytes per node per second under that loss.

Extra arguments after -- go to every agent (e.g. -- --quorum).

    cargo build --release && python3 scripts/loopback-ping.py 10
    python3 scripts/loopback-ping.py 10 --loss 10 --minutes 10
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time, urllib.request

ap = argparse.ArgumentParser()
ap.add_argument("nodes", type=int, nargs="?", default=10)
ap.add_argument("--loss", type=float, default=0.0, help="percent of datagrams dropped")
ap.add_argument("--minutes", type=float, default=5.0, help="how long to run under loss")
ap.add_argument("--period", default="1s", help="the probe period (--interval)")
ap.add_argument("extra", nargs="*", help="arguments for every agent (after --)")
opts = ap.parse_args()
N = opts.nodes
LOGS = tempfile.mkdtemp(prefix="vitals-loopback-")
BIN = os.environ.get("VITALS_BIN", "target/release/vitals")
SUBNET = "127.60.0"
procs = {}


def start(i):
    ip = f"{SUBNET}.{i+1}"
    args = [BIN, "agent", "--name", f"n{i}", "--bind", f"{ip}:7946", "--http", f"{ip}:7947",
            "--join", f"{SUBNET}.2:7946", "--strategy", "ping", "--preset", "lan",
            "--interval", opts.period] + opts.extra
    log = open(os.path.join(LOGS, f"n{i}.log"), "a")
    procs[i] = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=log)


def get(i, path):
    try:
        with urllib.request.urlopen(f"http://{SUBNET}.{i+1}:7947{path}", timeout=1) as r:
            return r.read().decode()
    except Exception:
        return None


def status(o, m):
    rows = get(o, "/v1/members")
    for r in json.loads(rows) if rows else []:
        if r["name"] == f"n{m}":
            return r["status"]


def sent(i):
    """(datagrams, payload bytes) agent i has sent."""
    packets = payload = 0.0
    for line in (get(i, "/metrics") or "").splitlines():
        if line.startswith("vitals_messages_sent_total"):
            packets += float(line.rsplit(" ", 1)[1])
        elif line.startswith("vitals_sent_bytes_total"):
            payload += float(line.rsplit(" ", 1)[1])
    return packets, payload


def rate(seconds):
    """Packets and bytes (payload, and with 28 B of IP+UDP header) per node per second."""
    before = [sent(i) for i in range(N)]
    time.sleep(seconds)
    after = [sent(i) for i in range(N)]
    pkts = sum(a[0] - b[0] for a, b in zip(after, before)) / N / seconds
    payload = sum(a[1] - b[1] for a, b in zip(after, before)) / N / seconds
    return f"{pkts:.2f} packets/s and {payload:.0f} payload B/s sent per node ({payload + 28 * pkts:.0f} B/s with IP+UDP headers)"


def converge(limit=30):
    t0 = time.time()
    while time.time() - t0 < limit:
        if all(status(o, m) == "alive" for o in range(N) for m in range(N)):
            return round(time.time() - t0, 2)
        time.sleep(0.05)
    sys.exit("the agents did not converge")


def crashes():
    print("at rest:", rate(30))
    for victim in [N - 1, N - 2, N - 3]:
        procs[victim].send_signal(signal.SIGKILL)
        procs[victim].wait()
        killed = time.time()
        survivors = [o for o in range(N) if o != victim]
        first = None
        while time.time() - killed < 30:
            seen = [status(o, victim) for o in survivors]
            if first is None and "dead" in seen:
                first = time.time() - killed
            if all(s == "dead" for s in seen):
                break
            time.sleep(0.02)
        print(f"kill n{victim}: first {first:.2f}s all {time.time() - killed:.2f}s")
        start(victim)
        time.sleep(8)


def nft(*args):
    subprocess.run(["nft", *args], check=True)


def lossy():
    nft("add", "table", "inet", "vitals_loss")
    nft("add", "chain", "inet", "vitals_loss", "input", "{ type filter hook input priority 0; }")
    nft("add", "rule", "inet", "vitals_loss", "input", "ip", "saddr", f"{SUBNET}.0/24", "udp", "dport", "7946",
        "numgen", "random", "mod", "1000", "<", str(int(opts.loss * 10)), "drop")
    try:
        seconds = opts.minutes * 60
        print(f"{opts.loss:g} % loss:", rate(seconds))
    finally:
        nft("delete", "table", "inet", "vitals_loss")
    removals = 0
    for i in range(N):
        with open(os.path.join(LOGS, f"n{i}.log")) as log:
            removals += sum(1 for line in log if 'to="dead"' in line)
    print(f"false removals at {opts.loss:g} % loss over {opts.minutes:g} min ({N * opts.minutes / 60:.2f} node-hours): {removals}")


for i in range(N):
    start(i)
try:
    print("converged in", converge(), "s; logs in", LOGS)
    time.sleep(10)
    lossy() if opts.loss > 0 else crashes()
finally:
    for p in procs.values():
        p.send_signal(signal.SIGTERM)
    for p in procs.values():
        p.wait()
