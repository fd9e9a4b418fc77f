#!/usr/bin/env python3
"""A real Prometheus discovers Vitals' healthy instances and drops a killed one.

Starts three agents on loopback, each fronting service `web` at its own HTTP API (so
every instance is scrapeable: its `/metrics`), and a real Prometheus (Debian's package)
whose `http_sd_configs` points at agent 1's `/v1/prometheus/sd?service=web&passing`.
Prometheus must discover and scrape the three agents; agent 3 is then SIGKILLed and
must leave Prometheus's active targets (`/api/v1/targets`) within the detection bound
(lan-fast: 800 ms) + the SD refresh interval (1 s) + Prometheus's discovery manager's
update throttle (5 s) + 2 s of slack.

Consul discovery: the script also asks `promtool check config` whether this Prometheus
has `consul_sd_configs`. Debian 12's 2.42.0+ds is built without it ("field
consul_sd_configs not found in type config.ScrapeConfig"); if the Prometheus given has
it, a second job discovers the same instances through the agents' Consul API
(`/v1/health/service/web`, keeping passing ones) and is held to the same bound.

    cargo build -p vitals && python3 scripts/prometheus-sd.py [--vitals PATH] [--prometheus PATH]

Since Debian's Prometheus cannot, the Consul API is proven against another real consumer
of Prometheus's `consul_sd_configs`: VictoriaMetrics' `vmagent` (Debian's
`victoria-metrics` package), which reads the same scrape configuration and implements
Consul discovery with Consul's blocking queries. Given `--vmagent PATH` (or found on
PATH), it runs the Consul job, must discover the three instances and drop the killed one
within the same bound.

`.ci/run` runs it after the README's test command (installing `prometheus` and
`victoria-metrics` if missing).
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

SUBNET = "127.10.61"
PROMETHEUS = f"{SUBNET}.100:19090"
VMAGENT = f"{SUBNET}.101:18429"
DETECTION_S = 0.8
BOUND_S = DETECTION_S + 1.0 + 5.0 + 2.0

HTTP_SD_JOB = f"""
  - job_name: web-http-sd
    http_sd_configs:
      - url: http://{SUBNET}.2:7947/v1/prometheus/sd?service=web&passing
        refresh_interval: 1s
"""

CONSUL_SD_JOB = f"""
  - job_name: web-consul-sd
    consul_sd_configs:
      - server: {SUBNET}.2:7947
        services: [web]
        refresh_interval: 1s
    relabel_configs:
      - source_labels: [__meta_consul_health]
        regex: passing
        action: keep
"""


def config(jobs):
    return "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n" + "".join(jobs)


def get_json(url):
    with urllib.request.urlopen(url, timeout=2) as response:
        return json.load(response)


def wait_for_each(watched, predicate, timeout_s):
    """Polls every (job, server, who) of `watched` side by side until `predicate(job,
    server)` holds for each; returns the seconds each took."""
    start = time.monotonic()
    took = [None] * len(watched)
    while None in took:
        elapsed = time.monotonic() - start
        for i, (job, server, who) in enumerate(watched):
            if took[i] is not None:
                continue
            if elapsed > timeout_s:
                sys.exit(f"FAIL: {who} {job}: not within {timeout_s} s")
            try:
                if predicate(job, server):
                    took[i] = elapsed
            except OSError:
                pass
        time.sleep(0.1)
    return took


def targets(job, healthy=False, server=PROMETHEUS):
    """The addresses of `job`'s active targets (only those scraped `up` if `healthy`)."""
    answer = get_json(f"http://{server}/api/v1/targets?state=active")
    return sorted(t["labels"]["instance"] for t in answer["data"]["activeTargets"]
                  if t["scrapePool"] == job and (t["health"] == "up" or not healthy))


def consul_sd_support(promtool, work):
    """Whether this Prometheus has Consul discovery, and promtool's words."""
    path = os.path.join(work, "consul.yml")
    with open(path, "w") as f:
        f.write(config([CONSUL_SD_JOB]))
    check = subprocess.run([promtool, "check", "config", path], capture_output=True, text=True)
    words = " ".join((check.stdout + check.stderr).split())
    return check.returncode == 0, words


def agent(vitals, i, logs):
    ip = f"{SUBNET}.{i + 1}"
    return subprocess.Popen(
        [vitals, "agent", "--name", f"node-{i}", "--bind", f"{ip}:7946", "--http", f"{ip}:7947",
         "--join", f"{SUBNET}.2:7946", "--preset", "lan-fast", "--service", f"web={ip}:7947"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(logs, f"node-{i}.log"), "w"))


def prometheus(binary, jobs, work):
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write(config(jobs))
    return subprocess.Popen(
        [binary, f"--config.file={work}/prometheus.yml", f"--storage.tsdb.path={work}/data",
         f"--web.listen-address={PROMETHEUS}"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "prometheus.log"), "w"))


def vmagent(binary, work):
    """vmagent scraping through `consul_sd_configs` (its remote write goes nowhere).
    vmagent 1.79 takes the refresh interval as a flag, not in the job."""
    job = CONSUL_SD_JOB.replace("        refresh_interval: 1s\n", "")
    with open(os.path.join(work, "vmagent.yml"), "w") as f:
        f.write(config([job]))
    return subprocess.Popen(
        [binary, f"-promscrape.config={work}/vmagent.yml", "-promscrape.config.strictParse",
         "-promscrape.consulSDCheckInterval=1s", f"-httpListenAddr={VMAGENT}",
         f"-remoteWrite.url=http://{SUBNET}.101:1/api/v1/write",
         f"-remoteWrite.tmpDataPath={work}/vmagent-data"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(os.path.join(work, "vmagent.log"), "w"))


def version(binary):
    if os.path.basename(binary) == "vmagent":  # prints no version; ask its package
        out = subprocess.run(["dpkg-query", "-W", "-f", "vmagent ${Version}", "victoria-metrics"],
                             capture_output=True, text=True)
        return out.stdout or "vmagent"
    out = subprocess.run([binary, "--version"], capture_output=True, text=True)
    return (out.stdout + out.stderr).splitlines()[0]


def run(args, work, children):
    print(f"[note] {version(args.prometheus)}")
    consul_ok, words = consul_sd_support(args.promtool, work)
    names = ["web-http-sd"] + (["web-consul-sd"] if consul_ok else [])
    if not consul_ok:
        print(f"[note] no Consul discovery in this Prometheus: promtool check config says: {words}")
    children.extend(agent(args.vitals, i, work) for i in (1, 2, 3))
    jobs = [HTTP_SD_JOB] + ([CONSUL_SD_JOB] if consul_ok else [])
    children.append(prometheus(args.prometheus, jobs, work))
    watched = [(job, PROMETHEUS, "Prometheus") for job in names]
    if args.vmagent:
        print(f"[note] {version(args.vmagent)}: the Consul job runs in vmagent")
        children.append(vmagent(args.vmagent, work))
        watched.append(("web-consul-sd", VMAGENT, "vmagent"))
    everyone = [f"{SUBNET}.{i + 1}:7947" for i in (1, 2, 3)]
    took = wait_for_each(watched, lambda job, server: targets(job, True, server) == everyone, 60)
    for (job, _, who), seconds in zip(watched, took):
        print(f"[measure] {who} {job}: discovered and scraped {everyone} {seconds:.1f} s after start")
    children[2].kill()
    children[2].wait()
    left = everyone[:2]
    took = wait_for_each(watched, lambda job, server: targets(job, server=server) == left, BOUND_S + 10)
    for (job, _, who), seconds in zip(watched, took):
        print(f"[measure] {who} {job}: dropped the SIGKILLed agent {seconds:.1f} s after the kill "
              f"(bound {BOUND_S:.1f} s = detection {DETECTION_S} s + refresh 1 s + "
              f"discovery throttle 5 s + slack 2 s)")
        if seconds > BOUND_S:
            sys.exit(f"FAIL: {who} {job}: {seconds:.1f} s is beyond {BOUND_S:.1f} s")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--vitals", default="target/debug/vitals")
    parser.add_argument("--prometheus", default=shutil.which("prometheus") or "/usr/bin/prometheus")
    parser.add_argument("--promtool", default=shutil.which("promtool") or "/usr/bin/promtool")
    parser.add_argument("--vmagent", default=shutil.which("vmagent"),
                        help="VictoriaMetrics' vmagent, to run the consul_sd_configs job")
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="vitals-prometheus-")
    children = []
    try:
        run(args, work, children)
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
