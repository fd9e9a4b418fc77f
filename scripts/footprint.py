#!/usr/bin/env python3
"""Footprint of N agents at rest on loopback (the figures to compare with foca's 3.7 MiB
and 0.08-0.10 % of a core, issue #17).

Drops the binary's pages from the page cache (posix_fadvise; a no-op if it is running
elsewhere), starts N agents (default 10) with --strategy ping --preset lan --interval 1s
on 127.62.0.x, waits until all see each other alive, lets them rest WARMUP seconds (default
30), then reads each agent's VmRSS (/proc/PID/status) and its utime+stime
(/proc/PID/stat) at the start and end of a WINDOW-second window (default 60). Prints the
median and the range of RSS (MiB) and CPU (% of one core) per agent, RSS split into
anonymous memory and mapped files (mostly the binary's own code, shared by the agents),
the threads per agent, each agent's PSS (/proc/PID/smaps_rollup: the pages it shares with
the other agents, such as the binary's code, divided among them), the first agent's RSS
per mapped file (/proc/PID/smaps) and its smaps_rollup split. The load average is printed
with the figures.

    scripts/build-dist.sh && VITALS_BIN=target/dist/vitals python3 scripts/footprint.py 10
    VITALS_BIN=/tmp/other/vitals python3 scripts/footprint.py 10 -- --keyring FILE

With --foca BIN it measures foca's example agent instead, in the same way (`BIN IP:7946
--announce SUBNET.1:7946 --filename F`, converged when every F lists the N-1 others):
foca 2.0.0's examples/foca_insecure_udp_agent.rs, built with `cargo build --release
--example foca_insecure_udp_agent --features std,tracing,postcard-codec` in its crate
(`cargo info foca@2.0.0` leaves foca-2.0.0.crate in ~/.cargo/registry/cache/*/; untar it).

Extra arguments after -- go to every agent.
"""
import argparse, json, os, statistics, subprocess, sys, tempfile, time, urllib.request
import agentargs

ap = argparse.ArgumentParser()
ap.add_argument("nodes", type=int, nargs="?", default=10)
ap.add_argument("--warmup", type=float, default=30.0)
ap.add_argument("--window", type=float, default=60.0)
ap.add_argument("--subnet", default="127.62.0")
ap.add_argument("--foca", metavar="BIN", help="measure foca's example agent (this binary) instead")
own, extra = agentargs.split()
opts = ap.parse_args(own)
opts.extra = extra
N, SUBNET = opts.nodes, opts.subnet
BIN = os.environ.get("VITALS_BIN", "target/release/vitals")
LOGS = tempfile.mkdtemp(prefix="vitals-footprint-")
TICK = os.sysconf("SC_CLK_TCK")
procs = []


def members(i):
    try:
        with urllib.request.urlopen(f"http://{SUBNET}.{i+1}:7947/v1/members", timeout=1) as r:
            return json.loads(r.read())
    except Exception:
        return []


def foca_members(i):
    try:
        return len(open(os.path.join(LOGS, f"n{i}.members")).read().split())
    except OSError:
        return 0


def converged():
    if opts.foca:
        return all(foca_members(i) == N - 1 for i in range(N))
    return all(sum(m["status"] == "alive" for m in members(i)) == N for i in range(N))


def cpu_seconds(pid):
    """utime + stime, in clock ticks (10 ms): counts threads that have exited too."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def run_seconds(pid):
    """Time on a CPU of the threads alive now (/proc/PID/task/*/schedstat, in ns)."""
    tasks = f"/proc/{pid}/task"
    return sum(int(open(f"{tasks}/{t}/schedstat").read().split()[0]) for t in os.listdir(tasks)) / 1e9


def pss(pid):
    for line in open(f"/proc/{pid}/smaps_rollup"):
        if line.startswith("Pss:"):
            return int(line.split()[1])


def rss_by_file(pid):
    """kB resident per mapped file (/proc/PID/smaps), largest first."""
    files, name = {}, None
    for line in open(f"/proc/{pid}/smaps"):
        head = line.split()
        if not head[0].endswith(":"):
            name = os.path.basename(head[5]) if len(head) > 5 and head[5].startswith("/") else None
        elif head[0] == "Rss:" and name:
            files[name] = files.get(name, 0) + int(head[1])
    return sorted(files.items(), key=lambda kv: -kv[1])


def status(pid, key):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])


# Drop the binary's pages from the page cache (if nothing runs it), so every build is read as
# after a boot, by the agents' own page faults, whatever wrote it (the linker, cp).
fd = os.open(opts.foca or BIN, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
os.close(fd)

for i in range(N):
    ip = f"{SUBNET}.{i+1}"
    if opts.foca:
        args = [opts.foca, f"{ip}:7946", "--filename", os.path.join(LOGS, f"n{i}.members")]
        args += ["--announce", f"{SUBNET}.1:7946"] if i else []
    else:
        args = [BIN, "agent", "--name", f"n{i}", "--bind", f"{ip}:7946", "--http", f"{ip}:7947",
                "--join", f"{SUBNET}.1:7946", "--strategy", "ping", "--preset", "lan",
                "--interval", "1s"]
    args += opts.extra
    procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                  stderr=open(os.path.join(LOGS, f"n{i}.log"), "w")))
    if opts.foca and i == 0:
        time.sleep(1)  # the example announces once and never again: let the seed bind first
try:
    t0 = time.time()
    while not converged():
        if time.time() - t0 > 60:
            sys.exit(f"the agents did not converge (logs in {LOGS})")
        time.sleep(0.2)
    time.sleep(opts.warmup)
    pids = [p.pid for p in procs]
    before, ran, start = [cpu_seconds(p) for p in pids], [run_seconds(p) for p in pids], time.time()
    time.sleep(opts.window)
    after, elapsed = [cpu_seconds(p) for p in pids], time.time() - start
    ran = [100 * (run_seconds(p) - r) / elapsed for p, r in zip(pids, ran)]
    rss = [status(p, "VmRSS") / 1024 for p in pids]
    split = {k: statistics.median(status(p, k) / 1024 for p in pids) for k in ("RssAnon", "RssFile", "RssShmem")}
    cpu = [100 * (a - b) / elapsed for a, b in zip(after, before)]
    threads = [status(p, "Threads") for p in pids]
    print(f"{N} agents, {opts.foca or BIN} {' '.join(opts.extra)}; load average {open('/proc/loadavg').read().split()[:3]}")
    print(f"RSS MiB: median {statistics.median(rss):.2f} (min {min(rss):.2f}, max {max(rss):.2f})")
    print(f"CPU % of a core (utime+stime): median {statistics.median(cpu):.3f} (min {min(cpu):.3f}, max {max(cpu):.3f}) over {elapsed:.0f} s")
    print(f"CPU % of a core (schedstat, live threads): median {statistics.median(ran):.3f} (min {min(ran):.3f}, max {max(ran):.3f})")
    print("of which (median MiB): " + ", ".join(f"{k} {v:.2f}" for k, v in split.items()))
    print(f"PSS MiB: median {statistics.median(pss(p) / 1024 for p in pids):.2f}")
    print(f"threads: {sorted(set(threads))}")
    print("n0 RSS per file: " + ", ".join(f"{f} {kb / 1024:.2f} MiB" for f, kb in rss_by_file(pids[0])[:4]))
    rollup = open(f"/proc/{pids[0]}/smaps_rollup").read().splitlines()
    print("n0 smaps_rollup:", "; ".join(l.split(":")[0] + " " + l.split()[1] + " kB" for l in rollup[1:]
                                         if l.split(":")[0] in ("Rss", "Pss_Anon", "Pss_File", "Anonymous", "Private_Dirty")))
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
