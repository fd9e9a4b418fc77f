#!/usr/bin/env python3
"""Regenerates deploy/hot-symbols.txt: the functions of the `vitals` binary that an agent
runs at rest, which the `dist` build links together (scripts/build-dist.sh,
scripts/cc-hot.sh; docs/DEPLOY.md, "Footprint").

Starts N agents (default 10) as scripts/footprint.py does (--strategy ping --preset lan
--interval 1s on SUBNET.x), one of them (the last, not the seed) under valgrind's
callgrind with its instrumentation off; once they have converged and rested REST seconds
(default 20: start-up is over), turns it on (`callgrind_control -i on`), reads every
agent's /metrics and /v1/members every 5 s for SECONDS (default 60; as a Prometheus server
and a client would), dumps (`callgrind_control -d`) and stops them all. Callgrind counts
every function that runs, however rarely (a sampling profiler misses the rare ones: two
`perf record -e cpu-clock -F 20000` runs of 60 and 90 s named 538 functions between them,
one callgrind run 656, all but 3 of perf's among them), and an agent's work at rest is
light enough to run under it.

Prints the binary's functions that ran, most instructions first, by their mangled names
(scripts/cc-hot.sh resolves them exactly, or without their hashes once those change).
Needs valgrind (Debian's valgrind package).

    scripts/build-dist.sh
    python3 scripts/hot-symbols.py --bin target/dist/vitals > /tmp/hot && mv /tmp/hot deploy/hot-symbols.txt
    scripts/build-dist.sh   # linked with the new list

It does that RUNS times (default 3) and lists every function seen in any run: each run
names a few rare ones the others miss. With --dump FILE... it lists the functions of
earlier runs' dumps (kept in /tmp/vitals-hot-*/) instead of running agents. Extra arguments after -- go to every agent.
"""
import argparse, collections, glob, json, os, re, subprocess, sys, tempfile, time, urllib.request
import agentargs

ap = argparse.ArgumentParser()
ap.add_argument("nodes", type=int, nargs="?", default=10)
ap.add_argument("--bin", default="target/dist/vitals")
ap.add_argument("--rest", type=float, default=20.0)
ap.add_argument("--seconds", type=float, default=60.0)
ap.add_argument("--subnet", default="127.63.0")
ap.add_argument("--runs", type=int, default=3, help="runs of agents, their functions merged (default 3)")
ap.add_argument("--dump", metavar="FILE", nargs="+",
                help="list the functions of these callgrind dumps of BIN instead of running agents")
own, extra = agentargs.split()
opts = ap.parse_args(own)
N, SUBNET, BIN = opts.nodes, opts.subnet, os.path.realpath(opts.bin)
LOGS = tempfile.mkdtemp(prefix="vitals-hot-")
CALLGRIND = os.path.join(LOGS, "callgrind.out")


def get(i, path):
    try:
        with urllib.request.urlopen(f"http://{SUBNET}.{i + 1}:7947{path}", timeout=2) as r:
            return r.read()
    except Exception:
        return b""


def converged():
    def alive(i):
        try:
            return sum(m["status"] == "alive" for m in json.loads(get(i, "/v1/members")))
        except ValueError:
            return 0
    return all(alive(i) == N for i in range(N))


def start():
    """The agents; the last one under callgrind, its instrumentation off."""
    procs = []
    for i in range(N):
        ip = f"{SUBNET}.{i + 1}"
        args = [BIN, "agent", "--name", f"n{i}", "--bind", f"{ip}:7946", "--http", f"{ip}:7947",
                "--join", f"{SUBNET}.1:7946", "--strategy", "ping", "--preset", "lan",
                "--interval", "1s"] + extra
        if i == N - 1:
            args = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--demangle=no",
                    f"--callgrind-out-file={CALLGRIND}"] + args
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                      stderr=open(os.path.join(LOGS, f"n{i}.log"), "w")))
    return procs


def control(pid, *args):
    subprocess.run(["callgrind_control", *args, str(pid)], check=True, stdout=subprocess.DEVNULL)


def record(pid):
    """Callgrind's dump of `pid` over opts.seconds at rest, the agents' HTTP API read every 5 s."""
    control(pid, "-i", "on")
    end = time.time() + opts.seconds
    while time.time() < end:
        for i in range(N):
            get(i, "/metrics")
            get(i, "/v1/members")
        time.sleep(max(0, min(5, end - time.time())))
    control(pid, "-d")
    dumps = [d for d in glob.glob(CALLGRIND + "*") if os.path.getsize(d) > 0]
    if not dumps:
        sys.exit(f"callgrind wrote no dump (logs in {LOGS})")
    return max(dumps, key=os.path.getmtime)


def functions(dump):
    """The binary's functions in a callgrind dump, most instructions (self and calls) first."""
    kinds = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}
    names, cost, obj, fn = {"ob": {}, "fn": {}}, collections.Counter(), None, None
    line_re = re.compile(r"^([a-z]+)=\((\d+)\)(?: (.*))?$")
    for line in open(dump):
        m = line_re.match(line.rstrip("\n"))
        if m and m.group(1) in kinds:
            kind, table = m.group(1), names[kinds[m.group(1)]]
            if m.group(3):
                table[m.group(2)] = m.group(3)
            if kind == "ob":
                obj = table[m.group(2)]
            elif kind == "fn":
                # Callgrind names a recursive function's deeper levels NAME'2, NAME'3...
                fn = re.sub(r"'\d+$", "", table[m.group(2)]) if obj == BIN else None
                if fn:
                    cost[fn] += 0
        elif fn and line[:1].isdigit() or fn and line[:1] in "+-*":
            fields = line.split()
            if len(fields) > 1 and fields[1].isdigit():
                cost[fn] += int(fields[1])
    return cost.most_common()


def one_run():
    """The callgrind dump of one run of N agents at rest."""
    procs = start()
    try:
        t0 = time.time()
        while not converged():
            if time.time() - t0 > 120:
                sys.exit(f"the agents did not converge (logs in {LOGS})")
            time.sleep(0.5)
        time.sleep(opts.rest)
        return record(procs[-1].pid)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait()


def main():
    """Each run names a few rare functions the others miss (a blocking-pool wake-up, a
    sort): the list is every function seen in any run, by instructions summed."""
    dumps = opts.dump or []
    for run in range(0 if opts.dump else opts.runs):
        dump = one_run()
        os.rename(dump, f"{CALLGRIND}.run{run}")
        dumps.append(f"{CALLGRIND}.run{run}")
    total = collections.Counter()
    for dump in dumps:
        total.update(dict(functions(dump)))
    print(f"# The functions an agent runs at rest, most instructions first (scripts/hot-symbols.py:"
          f" {len(dumps)} runs of {N} agents, {opts.seconds:.0f} s each; {len(total)} functions).")
    for name, _ in total.most_common():
        print(name)


main()
