#!/usr/bin/env python3
"""Figures for issue 16 (consuming verdicts), measured on real agents on loopback.

    python3 scripts/verdict-figures.py latency [--vitals PATH] [--kills 20]
    python3 scripts/verdict-figures.py cpu     [--vitals PATH] [--subscribers 100] [--seconds 60]
    python3 scripts/verdict-figures.py proxy   [--vitals PATH] [--proxy PATH] [--runs 5]

latency: three agents (preset lan-fast); a subscriber on node-1's `GET /v1/events`; node-3
is SIGKILLed and restarted `--kills` times; prints the time from each kill to the
`member ... dead` event at the subscriber, and the median.

cpu: node-1's CPU time (utime + stime from /proc/PID/stat) over `--seconds` with no event
subscriber, then with `--subscribers` idle ones open.

proxy: three agents fronting service `web` (backends served here), `vitals proxy` of the
binary `--proxy` in front; clients connect through the proxy continuously; node-2's agent
(not its backend) is SIGKILLed; prints when the proxy made its last connection to node-2's
instance after the kill (from its `vitals_proxy_connections_total{target="node-2"}`).
Run it once with this tree's binary (watches) and once with an older one (polling every
100 ms) to compare. Every address is on 127.92.0.0/16.
"""

import argparse
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import threading
import time

SUBNET = "127.92.1"


def agent(vitals, i, extra=(), log=None):
    args = [vitals, "agent", "--name", f"node-{i}", "--preset", "lan-fast",
            "--bind", f"{SUBNET}.{i + 1}:7946", "--http", f"{SUBNET}.{i + 1}:7947",
            "--join", f"{SUBNET}.2:7946", *extra]
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=log or subprocess.DEVNULL)


def http_get(host, path, timeout=2.0):
    ip, port = host.split(":")
    with socket.create_connection((ip, int(port)), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body.decode(errors="replace")


def wait(condition, limit=20.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        try:
            if condition():
                return True
        except OSError:
            pass
        time.sleep(0.02)
    return False


def all_alive(n):
    import json
    for i in range(1, n + 1):
        status, body = http_get(f"{SUBNET}.{i + 1}:7947", "/v1/members")
        rows = json.loads(body) if status == 200 else []
        if len([r for r in rows if r["status"] == "alive"]) != n:
            return False
    return True


class Subscriber:
    """Reads an SSE stream on a thread; records (arrival time, event, data) per message."""

    def __init__(self, host, path):
        ip, port = host.split(":")
        self.sock = socket.create_connection((ip, int(port)))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        self.messages = []
        self.cond = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        import json
        buf, event = b"", None
        while chunk := self.sock.recv(65536):
            now = time.monotonic()
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                line = line.decode(errors="replace").rstrip("\r")
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: "):
                    with self.cond:
                        self.messages.append((now, event, json.loads(line[6:])))
                        self.cond.notify_all()

    def first_after(self, since, wanted, limit=10.0):
        end = time.monotonic() + limit
        with self.cond:
            while True:
                for at, event, data in self.messages:
                    if at >= since and wanted(event, data):
                        return at
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def latency(args):
    agents = {i: agent(args.vitals, i) for i in (1, 2, 3)}
    try:
        assert wait(lambda: all_alive(3)), "agents never converged"
        sub = Subscriber(f"{SUBNET}.2:7947", "/v1/events?kind=member&member=node-3")
        took = []
        for _ in range(args.kills):
            killed = time.monotonic()
            agents[3].send_signal(signal.SIGKILL)
            agents[3].wait()
            at = sub.first_after(killed, lambda e, d: d.get("to") == "dead")
            assert at is not None, "no death event"
            took.append((at - killed) * 1000)
            agents[3] = agent(args.vitals, 3)
            back = time.monotonic()
            assert sub.first_after(back, lambda e, d: d.get("to") == "alive") is not None
            assert wait(lambda: all_alive(3))
        print("kill -> SSE death event (ms):", " ".join(f"{t:.0f}" for t in took))
        print(f"median {statistics.median(took):.0f} ms, min {min(took):.0f}, max {max(took):.0f}, n={len(took)}")
    finally:
        for p in agents.values():
            p.kill()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu(args):
    agents = {i: agent(args.vitals, i) for i in (1, 2, 3)}
    try:
        assert wait(lambda: all_alive(3)), "agents never converged"
        pid = agents[1].pid
        for n in (0, args.subscribers):
            subs = [Subscriber(f"{SUBNET}.2:7947", "/v1/events") for _ in range(n)]
            time.sleep(2)
            before = cpu_seconds(pid)
            time.sleep(args.seconds)
            used = cpu_seconds(pid) - before
            print(f"{n} idle subscribers: {used:.2f} s CPU in {args.seconds} s = {100 * used / args.seconds:.2f} % of a core")
            for s in subs:
                s.sock.close()
    finally:
        for p in agents.values():
            p.kill()


def backend():
    listener = socket.socket()
    listener.bind((f"{SUBNET}.50", 0))
    listener.listen(512)

    def serve():
        while True:
            conn, _ = listener.accept()
            conn.close()
    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()


def metric(host, series):
    try:
        _, text = http_get(host, "/metrics")
    except OSError:
        return 0.0
    for line in text.splitlines():
        if line.startswith(series):
            return float(line.split()[-1])
    return 0.0


def proxy_run(args, run):
    tmp = tempfile.mkdtemp()
    agents = {}
    for i in (1, 2, 3):
        ip, port = backend()
        path = os.path.join(tmp, f"node-{i}.toml")
        with open(path, "w") as f:
            f.write(f'[[services]]\nname = "web"\naddr = "{ip}:{port}"\n')
        agents[i] = agent(args.vitals, i, ["--config", path])
    proxy_addr, metrics_addr = f"{SUBNET}.100:{8000 + 2 * run}", f"{SUBNET}.100:{8001 + 2 * run}"
    proxy = subprocess.Popen([args.proxy, "proxy", "--listen", proxy_addr, "--service", "web",
                              "--http", f"{SUBNET}.2:7947", "--metrics", metrics_addr],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    stop = threading.Event()
    try:
        series = 'vitals_proxy_connections_total{target="node-2"}'
        assert wait(lambda: all_alive(3)), "agents never converged"

        def load():
            ip, port = proxy_addr.split(":")
            while not stop.is_set():
                try:
                    socket.create_connection((ip, int(port)), timeout=1).close()
                except OSError:
                    pass
                time.sleep(0.002)
        threading.Thread(target=load, daemon=True).start()
        assert wait(lambda: metric(metrics_addr, series) > 0), "node-2 never got traffic"
        killed = time.monotonic()
        agents[2].send_signal(signal.SIGKILL)
        count, last = metric(metrics_addr, series), killed
        while time.monotonic() - killed < 4:
            now = metric(metrics_addr, series)
            if now > count:
                count, last = now, time.monotonic()
            time.sleep(0.01)
        return (last - killed) * 1000
    finally:
        stop.set()
        proxy.kill()
        for p in agents.values():
            p.kill()
            p.wait()
        time.sleep(0.5)


def proxy(args):
    took = [proxy_run(args, run) for run in range(args.runs)]
    print("kill of node-2's agent -> proxy's last connection to its instance (ms):",
          " ".join(f"{t:.0f}" for t in took))
    print(f"median {statistics.median(took):.0f} ms, n={len(took)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["latency", "cpu", "proxy"])
    parser.add_argument("--vitals", default="target/release/vitals")
    parser.add_argument("--proxy", help="the binary whose `vitals proxy` runs (default: --vitals)")
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--subscribers", type=int, default=100)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    args.proxy = args.proxy or args.vitals
    {"latency": latency, "cpu": cpu, "proxy": proxy}[args.what](args)


if __name__ == "__main__":
    main()
