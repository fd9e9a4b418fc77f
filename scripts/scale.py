#!/usr/bin/env python3
"""Many real agents on one machine: formation, bytes per node at rest, crash detection by
every survivor, false removals, total CPU and memory (issue 17, docs/SCALE.md).

Starts N release-build agents (default 500) with `--strategy ping --preset lan
--interval 1s` in a network namespace of their own (so nothing it does touches the
loopback of the host or of the tests), on 127.1.x.y (127.0.0.0/8 is all loopback inside
the namespace), one right after the other, every one joining through the first three.
Then, in order:

1. formation: from the first start until every agent lists all N members alive. The
   agents' logs say when (the last `member status changed ... to="alive"` line, as in
   scripts/formation.py); the API is read only to confirm it, one sweep of
   `/v1/members` over all agents once the logs show every agent has logged all the
   others alive, so that the poller does not take the CPU the agents need;
2. at rest, after --warmup seconds: IP bytes (headers included) of the UDP datagrams
   the agents send, counted by an nftables counter on the namespace's output hook over
   --window seconds, per node per second; and the agents' total CPU (utime + stime from
   /proc/PID/stat) and memory (VmRSS from /proc/PID/status) over the same window;
3. rest until --rest-minutes have passed since formation (default 10);
4. --kills SIGKILLs, one at a time: the time until every survivor has logged the victim
   `dead` (and `suspect`), from the agents' logs; then, with --kill-at-once K, K agents
   SIGKILLed together (a rack or a zone lost): the time until every survivor has logged
   every one of them dead;
5. false removals: transitions to `dead` of a member that was never killed, in any log,
   over the whole run.

Needs root, `ip` (iproute2), `nft` (nftables), Python 3.9+ (stdlib only). From the
repository root:

    cargo build --release -p vitals
    sudo python3 scripts/scale.py 500
    sudo python3 scripts/scale.py 10 --rest-minutes 2 --kills 3   # the baseline
    sudo VITALS_BIN=/path/to/vitals python3 scripts/scale.py 1000
    sudo python3 scripts/scale.py 100 --kills 0 --kill-at-once 20 --rest-minutes 1

Extra arguments after -- go to every agent. `--logs DIR` keeps the agents' logs there.
"""
import argparse, datetime, json, os, re, resource, shutil, signal, subprocess, sys, tempfile, time, urllib.request
from concurrent.futures import ThreadPoolExecutor

TRANSITION = re.compile(r'^(\S+)\s.*member status changed member=(\S+) .*from="(\w+)" to="(\w+)"')
SEEDS = 3
TICK = os.sysconf("SC_CLK_TCK")


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("nodes", type=int, nargs="?", default=500)
    ap.add_argument("--warmup", type=float, default=30.0, help="seconds at rest before the bytes window")
    ap.add_argument("--window", type=float, default=60.0, help="seconds over which bytes and CPU are counted")
    ap.add_argument("--rest-minutes", type=float, default=10.0, help="minutes at rest from formation to the first kill")
    ap.add_argument("--kills", type=int, default=5)
    ap.add_argument("--kill-at-once", type=int, default=0, metavar="K",
                    help="after the kills one at a time, SIGKILL K agents together (a rack, a zone; never a seed)")
    ap.add_argument("--limit", type=float, default=120.0, help="seconds after the last start before formation is given up, and after a kill before its detection is")
    ap.add_argument("--logs", help="keep the agents' logs in this directory")
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    argv, extra = sys.argv[1:], []
    if "--" in argv:  # everything after `--` goes to every agent
        argv, extra = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    opts = ap.parse_args(argv)
    opts.extra = extra
    return opts, argv, extra


def ip_of(i):
    return f"127.1.{i // 250}.{i % 250 + 1}"


def name_of(i):
    return f"n{i:04}"


def stamp(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Logs:
    """Reads the agents' logs incrementally: every status transition, as (time, observer, member, from, to)."""

    def __init__(self, directory, n):
        self.directory, self.n = directory, n
        self.offsets = [0] * n
        self.rows = []

    def read(self):
        for i in range(self.n):
            path = os.path.join(self.directory, f"{name_of(i)}.log")
            try:
                with open(path, errors="replace") as f:
                    f.seek(self.offsets[i])
                    chunk = f.read()
            except OSError:
                continue
            complete = chunk[: chunk.rfind("\n") + 1]
            self.offsets[i] += len(complete.encode(errors="replace"))
            for line in complete.splitlines():
                m = TRANSITION.match(line)
                if m:
                    self.rows.append((stamp(m.group(1)), name_of(i), m.group(2), m.group(3), m.group(4)))
        return self.rows


class Cluster:
    def __init__(self, opts, logs):
        self.opts, self.n, self.logs = opts, opts.nodes, logs
        self.procs = {}
        self.killed = {}  # name -> time of the kill

    def start_all(self):
        seeds = ",".join(f"{ip_of(i)}:7946" for i in range(min(SEEDS, self.n)))
        for i in range(self.n):
            args = [self.opts.bin, "agent", "--name", name_of(i), "--bind", f"{ip_of(i)}:7946",
                    "--http", f"{ip_of(i)}:7947", "--join", seeds, "--strategy", "ping",
                    "--preset", "lan", "--interval", "1s"] + self.opts.extra
            with open(os.path.join(self.logs, f"{name_of(i)}.log"), "w") as log:
                self.procs[name_of(i)] = subprocess.Popen(args, stdout=log, stderr=log)

    def stop_all(self):
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            p.wait()

    def live(self):
        return [n for n, p in self.procs.items() if n not in self.killed]

    def alive_listed(self, i):
        try:
            with urllib.request.urlopen(f"http://{ip_of(i)}:7947/v1/members", timeout=10) as r:
                rows = json.loads(r.read().decode())
        except Exception:
            return -1
        return sum(1 for r in rows if r.get("status") == "alive")

    def usage(self):
        """(CPU seconds, RSS KiB) summed over the live agents."""
        cpu = rss = 0
        for name in self.live():
            pid = self.procs[name].pid
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / TICK
            for line in open(f"/proc/{pid}/status"):
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        return cpu, rss


def views(rows, since=0.0):
    """Each observer's latest status of each member, from the log transitions."""
    view = {}
    for t, o, m, _, s in sorted(rows):
        if t >= since:
            view.setdefault(o, {})[m] = s
    return view


def formation(cluster, reader, t0):
    """Seconds from the first start until every agent listed all N alive (from the logs), or
    None when that has not happened --limit seconds after the last start."""
    n, started = cluster.n, time.time()
    while time.time() - started < cluster.opts.limit:
        time.sleep(2.0)
        view = views(reader.read())
        done = sum(1 for o in view.values() if sum(1 for s in o.values() if s == "alive") == n - 1)
        print(f"  {time.time() - t0:5.1f} s: {done}/{n} agents have logged all others alive", flush=True)
        if done < n:
            continue
        with ThreadPoolExecutor(max_workers=4) as pool:
            counts = list(pool.map(cluster.alive_listed, range(n)))
        if all(c == n for c in counts):
            return max(t for t, _, _, _, s in reader.read() if s == "alive") - t0
        print(f"  the API does not agree yet: {sum(1 for c in counts if c == n)}/{n} list all alive", flush=True)
    return None


def nft_counter(action):
    if action == "add":
        script = ("table inet vitals_scale {\n  chain out {\n    type filter hook output priority 0; policy accept;\n"
                  "    meta l4proto udp counter\n  }\n}\n")
        subprocess.run(["nft", "-f", "-"], input=script.encode(), check=True)
        return None
    out = subprocess.run(["nft", "-j", "list", "table", "inet", "vitals_scale"], capture_output=True, check=True).stdout
    for item in json.loads(out)["nftables"]:
        for expr in item.get("rule", {}).get("expr", []):
            if "counter" in expr:
                return expr["counter"]["packets"], expr["counter"]["bytes"]


def at_rest(cluster):
    """Bytes per node per second (IP, headers included), packets, CPU and RSS over the window."""
    n, window = cluster.n, cluster.opts.window
    p0, b0 = nft_counter("read")
    cpu0, _ = cluster.usage()
    t = time.time()
    time.sleep(window)
    p1, b1 = nft_counter("read")
    cpu1, rss = cluster.usage()
    elapsed = time.time() - t
    return {"bytes_per_node_s": (b1 - b0) / n / elapsed, "packets_per_node_s": (p1 - p0) / n / elapsed,
            "cpu_percent_of_a_core_total": 100 * (cpu1 - cpu0) / elapsed,
            "cpu_percent_per_agent": 100 * (cpu1 - cpu0) / elapsed / n,
            "rss_mib_total": rss / 1024, "rss_mib_per_agent": rss / 1024 / n, "window_s": round(elapsed, 1)}


def detect(cluster, reader, victim, killed_at):
    """Seconds from the kill until every survivor logged the victim suspect and dead (None: not within the limit)."""
    return detect_all(cluster, reader, [victim], killed_at)[0]


def detect_all(cluster, reader, victims, killed_at):
    """`detect` for victims killed together: one result per victim, read from the same logs."""
    wanted = set(victims)
    survivors = {s for s in cluster.live() if s not in wanted}
    done = {}
    while time.time() - killed_at < cluster.opts.limit and len(done) < len(victims):
        time.sleep(1.0)
        rows = {}
        for r in reader.read():
            if r[0] >= killed_at and r[2] in wanted and r[2] not in done and r[1] in survivors:
                rows.setdefault(r[2], []).append(r)
        for victim, theirs in rows.items():
            found = dead_everywhere(theirs, victim, len(survivors), killed_at)
            if found:
                done[victim] = found
    return [done.get(v, {"victim": v, "all_dead_s": None, "survivors": len(survivors)}) for v in victims]


def dead_everywhere(rows, victim, survivors, killed_at):
    """The kill's figures once all `survivors` (a count) have logged `victim` dead in
    `rows` (its transitions at survivors since `killed_at`), else None."""
    dead = {o: t for t, o, _, _, s in sorted(rows, reverse=True) if s == "dead"}
    if len(dead) < survivors:
        return None
    suspect = {o: t for t, o, _, _, s in sorted(rows, reverse=True) if s == "suspect"}
    return {"victim": victim, "first_dead_s": round(min(dead.values()) - killed_at, 2),
            "all_dead_s": round(max(dead.values()) - killed_at, 2),
            "all_suspect_s": round(max(suspect.values()) - killed_at, 2) if suspect else None,
            "survivors": survivors}


def kill_at_once(cluster, reader, opts):
    """SIGKILLs `--kill-at-once` agents together (spread over the names, never a seed) and
    returns the slowest victim's figures and every victim's time until dead everywhere."""
    candidates = [n for n in cluster.live() if int(n[1:]) >= SEEDS]
    step = max(1, len(candidates) // opts.kill_at_once)
    victims = candidates[::step][:opts.kill_at_once]
    for victim in victims:
        cluster.procs[victim].kill()
    killed_at = time.time()
    for victim in victims:
        cluster.procs[victim].wait()
        cluster.killed[victim] = killed_at
    found = detect_all(cluster, reader, victims, killed_at)
    times = [f["all_dead_s"] for f in found]
    slowest = None if None in times else max(times)
    return {"victims": len(victims), "all_dead_s": slowest, "each_all_dead_s": sorted(t for t in times if t is not None),
            "first_dead_s": [f.get("first_dead_s") for f in found], "undetected": times.count(None)}


def false_removals(cluster, rows):
    """Transitions to dead, in any log, of a member that was alive then (never killed, or before its kill)."""
    out = []
    for t, o, m, f, s in rows:
        if s == "dead" and m in cluster.procs and (m not in cluster.killed or t < cluster.killed[m]):
            out.append((t, o, m, f))
    return out


def inside(opts):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logs = opts.logs or tempfile.mkdtemp(prefix="vitals-scale-")
    os.makedirs(logs, exist_ok=True)
    nft_counter("add")
    cluster, reader, result = Cluster(opts, logs), Logs(logs, opts.nodes), {"nodes": opts.nodes}
    t0 = time.time()
    cluster.start_all()
    result["start_s"] = round(time.time() - t0, 2)
    try:
        result["formation_s"] = formation(cluster, reader, t0)
        print(f"formed in {result['formation_s']} s (all {opts.nodes} started within {result['start_s']} s)", flush=True)
        if result["formation_s"] is None:
            return result
        formed = time.time()
        time.sleep(opts.warmup)
        result["rest"] = at_rest(cluster)
        print("at rest:", json.dumps(result["rest"]), flush=True)
        time.sleep(max(0.0, formed + 60 * opts.rest_minutes - time.time()))
        result["rest_minutes"] = round((time.time() - formed) / 60, 2)
        result["kills"] = []
        stride = max(1, min(7, (opts.nodes - SEEDS - 1) // max(1, opts.kills)))  # never a seed
        for k in range(opts.kills):
            victim = name_of(opts.nodes - 1 - stride * k)
            cluster.procs[victim].kill()
            cluster.procs[victim].wait()
            cluster.killed[victim] = time.time()
            result["kills"].append(detect(cluster, reader, victim, cluster.killed[victim]))
            print("kill:", json.dumps(result["kills"][-1]), flush=True)
            time.sleep(5)
        if opts.kill_at_once:
            result["killed_at_once"] = kill_at_once(cluster, reader, opts)
            print("killed at once:", json.dumps(result["killed_at_once"]), flush=True)
        wrong = false_removals(cluster, reader.read())
        result["false_removals"] = len(wrong)
        result["false_removal_examples"] = [f"{o} declared {m} dead (from {f}) at {t:.3f}" for t, o, m, f in wrong[:5]]
        result["logs"] = logs
    finally:
        cluster.stop_all()
        if not opts.logs and result.get("formation_s") is not None and not result.get("false_removals"):
            shutil.rmtree(logs, ignore_errors=True)
    return result


def stop(signum, frame):
    raise SystemExit(f"stopped by signal {signum}")


def main():
    signal.signal(signal.SIGTERM, stop)  # so that the agents are killed and the namespace removed
    opts, argv, extra = parse_args()
    opts.bin = os.path.abspath(os.environ.get("VITALS_BIN", "target/release/vitals"))
    if opts.inside:
        print("RESULT " + json.dumps(inside(opts)), flush=True)
        return 0
    if os.geteuid() != 0:
        sys.exit("error: scale.py needs root (a network namespace and nftables): run it with sudo")
    for tool in ["ip", "nft"]:
        if not shutil.which(tool):
            sys.exit(f"error: `{tool}` not found: install iproute2 and nftables (apt-get install iproute2 nftables)")
    if not os.access(opts.bin, os.X_OK):
        sys.exit(f"error: no agent binary at {opts.bin}: run `cargo build --release -p vitals` or set VITALS_BIN")
    ns = f"vitals-scale-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        cmd = ["ip", "netns", "exec", ns, sys.executable, os.path.abspath(__file__), "--inside", *argv, "--", *extra]
        env = dict(os.environ, VITALS_BIN=opts.bin)
        proc = subprocess.run(cmd, env=env)
        return proc.returncode
    finally:
        subprocess.run(["ip", "netns", "del", ns])


if __name__ == "__main__":
    sys.exit(main())
