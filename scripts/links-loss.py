#!/usr/bin/env python3
"""Loss injected with nftables shows on /v1/links (issue 18): two real agents (push, 50 ms
rounds) on 127.77.1.2 and .3; nftables drops a random 10 % of the datagrams node-2 sends
(`numgen random mod 100 < 10` on its address and port); node-1's measured loss of the link
from node-2 must be within 20 % of the injected rate (0.08..0.12). The figure is the mean of
three readings a 60 s window apart (some 3,600 heartbeats; the binomial standard error is
then 0.005). Needs root and nft.

    sudo VITALS_BIN=target/release/vitals python3 scripts/links-loss.py
"""
import json, os, subprocess, sys, tempfile, time, urllib.request

VITALS = os.environ.get("VITALS_BIN", "target/debug/vitals")
NET = "127.77.1"
TABLE = "vitals_links_loss"
INJECTED = 0.10


def links(http):
    with urllib.request.urlopen(f"http://{http}/v1/links", timeout=2) as answer:
        return json.load(answer)


def nft(script):
    subprocess.run(["nft", "-f", "-"], input=script, text=True, check=True)


def main():
    logs = tempfile.mkdtemp(prefix="links-loss-")
    agents = []
    for i in (2, 3):
        args = [VITALS, "agent", "--name", f"node-{i - 1}", "--bind", f"{NET}.{i}:7946",
                "--http", f"{NET}.{i}:7947", "--interval", "50ms", "--threshold", "20"]
        if i == 3:
            args += ["--join", f"{NET}.2:7946"]
        log = open(os.path.join(logs, f"node-{i - 1}.log"), "w")
        agents.append(subprocess.Popen(args, stdout=log, stderr=log))
    try:
        nft(f"""table inet {TABLE} {{
  chain out {{ type filter hook output priority 0; policy accept;
    ip saddr {NET}.3 udp sport 7946 numgen random mod 100 < {int(INJECTED * 100)} drop
  }}
}}""")
        time.sleep(3)
        readings = []
        for _ in range(3):
            time.sleep(61)
            link = [l for l in links(f"{NET}.2:7947") if l["peer"] == "node-2"]
            if not link:
                sys.exit(f"node-1 does not list node-2 on /v1/links; logs in {logs}")
            readings.append(link[0]["loss"])
            print(f"reading: loss {link[0]['loss']:.4f} over {link[0]['window_s']} s, {link[0]['received']} received", flush=True)
        measured = sum(readings) / len(readings)
        low, high = INJECTED * 0.8, INJECTED * 1.2
        print(f"injected {INJECTED:.2f}, measured {measured:.4f} (mean of {len(readings)} windows); accepted {low:.2f}..{high:.2f}")
        if not low <= measured <= high:
            sys.exit("FAIL: measured loss outside 20 % of the injected rate")
        print("PASS")
    finally:
        subprocess.run(["nft", "delete", "table", "inet", TABLE], check=False)
        for agent in agents:
            agent.terminate()
        for agent in agents:
            agent.wait(timeout=10)


if __name__ == "__main__":
    main()
