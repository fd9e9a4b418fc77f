#!/usr/bin/env python3
"""What starting N agents costs on this machine, and how much of it is the cluster forming.

Starts N ping agents (`--preset lan --interval 1s`, as scripts/scale.py) on 127.90.0.0/15
as fast as Python can spawn them, each joining agent 0 (or none with --alone), and prints
every 100 spawns the wall time and the CPU time the agents have used so far, then the CPU
time 3 and 13 s after the last spawn (from /proc, in clock ticks per agent), and, once they
are killed, the CPU time they used in all (from wait4, exact). Needs no root.

    python3 scripts/launch-cost.py 500 --bin target/release/vitals
    python3 scripts/launch-cost.py 500 --bin target/release/vitals --alone
"""
import argparse, os, subprocess, tempfile, time

TICK = os.sysconf("SC_CLK_TCK")


def address(i):
    return f"127.{90 + i // 250}.0.{i % 250 + 1}"


def cpu_seconds(procs):
    total = 0
    for p in procs:
        fields = open(f"/proc/{p.pid}/stat").read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nodes", type=int)
    ap.add_argument("--bin", default="target/release/vitals")
    ap.add_argument("--alone", action="store_true", help="no --join: agents that never meet")
    opts = ap.parse_args()
    logs = tempfile.mkdtemp(prefix="vitals-launch-")
    procs, start = [], time.time()
    try:
        for i in range(opts.nodes):
            args = [opts.bin, "agent", "--name", f"n{i:04}", "--bind", f"{address(i)}:7946",
                    "--http", f"{address(i)}:7947", "--strategy", "ping", "--preset", "lan",
                    "--interval", "1s"]
            if not opts.alone:
                args += ["--join", f"{address(0)}:7946"]
            with open(os.path.join(logs, f"n{i:04}.log"), "w") as log:
                procs.append(subprocess.Popen(args, stdout=log, stderr=log))
            if (i + 1) % 100 == 0:
                print(f"{i + 1} spawned at {time.time() - start:.2f} s; the agents' CPU so far {cpu_seconds(procs):.1f} s",
                      flush=True)
        for wait in (3, 10):
            time.sleep(wait)
            print(f"{time.time() - start:.1f} s: the agents' CPU {cpu_seconds(procs):.1f} s, load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    finally:
        for p in procs:
            p.kill()
        used = 0.0
        for p in procs:
            _, _, usage = os.wait4(p.pid, 0)
            used += usage.ru_utime + usage.ru_stime
    print(f"{opts.nodes} agents used {used:.2f} s of CPU in all ({1000 * used / opts.nodes:.1f} ms each); logs in {logs}")


if __name__ == "__main__":
    main()
