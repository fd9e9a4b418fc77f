#!/usr/bin/env python3
"""Consul clients no one here wrote read Vitals as their Consul catalog.

Starts three agents on loopback, each fronting service `web` at its own HTTP API, then:

1. python-consul (Debian's `python3-consul`) lists the catalog, reads `agent/self`, and
   polls `health.service("web", passing=True)`; agent 3 is SIGKILLed and must leave the
   passing list within the detection bound (lan-fast: 800 ms) plus 1 s of slack.
2. With `--prometheus PATH`, a real Prometheus whose `consul_sd_configs` points at agent 1
   (keeping only passing instances) must discover the three agents, scrape them, and drop
   the killed one within 800 ms + its `refresh_interval` (1 s) + its discovery manager's
   update throttle (5 s) + 2 s. Debian 12's Prometheus 2.42 is built without Consul
   discovery ("Disable Consul SD until its Debian package is back in shape", its
   changelog), so CI runs part 1 only; give an upstream Prometheus to run part 2.

    cargo build -p vitals && python3 scripts/consul-clients.py [--vitals PATH] [--prometheus PATH]

`.ci/run` runs it after the README's test command.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

SUBNET = "127.10.60"
CLIENT_BOUND_S = 0.8 + 1.0
PROMETHEUS = f"{SUBNET}.100:9090"
BOUND_S = 0.8 + 1.0 + 5.0 + 2.0

CONFIG = f"""
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: web
    consul_sd_configs:
      - server: {SUBNET}.2:7947
        services: [web]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_consul_health]
        regex: passing
        action: keep
"""


def get_json(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def wait_until(what, predicate, timeout_s):
    """Polls `predicate` until it is true; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < timeout_s:
        try:
            if predicate():
                return time.monotonic() - start
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"FAIL: {what} within {timeout_s} s")


def targets():
    """The addresses of Prometheus's active targets."""
    answer = get_json(f"http://{PROMETHEUS}/api/v1/targets?state=active")
    return sorted(t["labels"]["instance"] for t in answer["data"]["activeTargets"])


def agent(vitals, i, logs):
    ip = f"{SUBNET}.{i + 1}"
    return subprocess.Popen(
        [vitals, "agent", "--name", f"node-{i}", "--bind", f"{ip}:7946", "--http", f"{ip}:7947",
         "--join", f"{SUBNET}.2:7946", "--preset", "lan-fast", "--service", f"web={ip}:7947"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(logs, f"node-{i}.log"), "w"))


def python_consul():
    """Part 1: python-consul's client against agent 1; then agent 3 is killed."""
    import consul
    client = consul.Consul(host=f"{SUBNET}.2", port=7947)
    passing = lambda: sorted(e["Node"]["Node"] for e in client.health.service("web", passing=True)[1])
    took = wait_until("python-consul saw three passing instances", lambda: passing() == ["node-1", "node-2", "node-3"], 30)
    _, services = client.catalog.services()
    assert services == {"web": []}, services
    assert client.agent.self()["Config"]["Datacenter"] == "dc1"
    _, nodes = client.health.service("web", passing=True)
    ports = sorted(e["Service"]["Port"] for e in nodes)
    assert ports == [7947, 7947, 7947], ports
    print(f"[measure] python-consul: three passing instances of web after {took:.1f} s; catalog {services}")
    return passing


def prometheus(binary, work):
    """Part 2: a Prometheus with consul_sd_configs; returns its process and target lister."""
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(CONFIG)
    child = subprocess.Popen(
        [binary, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
         f"--web.listen-address={PROMETHEUS}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "prometheus.log"), "w"))
    everyone = [f"{SUBNET}.{i + 1}:7947" for i in (1, 2, 3)]
    took = wait_until("Prometheus discovered the three agents", lambda: targets() == everyone, 60)
    print(f"[measure] prometheus: discovered {everyone} through consul_sd_configs in {took:.1f} s")
    return child


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitals", default="target/debug/vitals")
    parser.add_argument("--prometheus", help="a Prometheus built with Consul discovery")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vitals-consul-")
    children = []
    try:
        children = [agent(args.vitals, i, work) for i in (1, 2, 3)]
        passing = python_consul()
        if args.prometheus:
            children.append(prometheus(args.prometheus, work))
        children[2].kill()
        took = wait_until("python-consul stopped listing the killed agent as passing",
                          lambda: passing() == ["node-1", "node-2"], 10)
        print(f"[measure] python-consul: node-3 left the passing list {took:.2f} s after its SIGKILL "
              f"(bound {CLIENT_BOUND_S:.1f} s)")
        if took > CLIENT_BOUND_S:
            sys.exit(f"FAIL: {took:.2f} s is beyond {CLIENT_BOUND_S:.1f} s")
        if args.prometheus:
            left = [f"{SUBNET}.{i + 1}:7947" for i in (1, 2)]
            took = wait_until("Prometheus dropped the killed agent", lambda: targets() == left, 30)
            print(f"[measure] prometheus: dropped the SIGKILLed agent {took:.1f} s after the kill (bound {BOUND_S:.1f} s)")
            if took > BOUND_S:
                sys.exit(f"FAIL: {took:.1f} s is beyond {BOUND_S:.1f} s")
        print("ok")
    except SystemExit:
        for name in sorted(os.listdir(work)):
            if name.endswith(".log"):
                lines = open(os.path.join(work, name)).read().splitlines()[-5:]
                print(f"--- {name}", *lines, sep="\n", file=sys.stderr)
        raise
    finally:
        for child in children:
            child.kill()
            child.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
