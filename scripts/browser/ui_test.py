#!/usr/bin/env python3
"""The dashboard in a real browser: five real `vitals agent` processes on 127.90.1.x
(push, lan-fast, an API token required for every read), node-2 dropping every datagram
from node-3 (the hidden `--drop-inbound-from` fault hook: a one-way cut, no root needed),
and Debian's headless Chromium driven by Playwright for Python opening node-1's /ui.

Asserts, without reloading the page:
  1. the token typed once into the page's form is used for every read and the event
     stream (the stream shows "live");
  2. the matrix shows node-2 -> node-3 as a link down (not a node down);
  3. after a SIGKILL of node-5, its row shows `dead` within the detection bound
     (dead_after + 2 intervals for the quorum's opinions + 1 s), and the matrix then
     shows node-5 as a node down while node-3 stays a link down;
and saves a screenshot to docs/ui.png (--screenshot).

Needs a vitals binary built with the test fault hook:
  cargo build -p vitals --features vitals-agent/fault-injection
  python3 scripts/browser/ui_test.py --vitals target/debug/vitals
(`pip install playwright` and `apt-get install chromium`; no browser is downloaded:
Chromium is launched from /usr/bin/chromium.)
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from playwright.sync_api import sync_playwright

SUBNET = "127.90.1"
N = 5
TOKEN = "browser-test-token-0123456789"


def ip(i):
    return f"{SUBNET}.{i + 1}"


def http(i):
    return f"{ip(i)}:7947"


def get(i, path):
    request = urllib.request.Request(f"http://{http(i)}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=2) as response:
        return json.load(response)


def wait(what, seconds, check):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"FAIL: {what} within {seconds} s")


def start_agents(vitals, workdir):
    token_file = os.path.join(workdir, "token")
    with open(token_file, "w") as f:
        f.write(TOKEN)
    agents = {}
    for i in range(1, N + 1):
        args = [vitals, "agent", "--name", f"node-{i}", "--bind", f"{ip(i)}:7946", "--http", http(i),
                "--preset", "lan-fast", "--api-token-file", token_file, "--api-auth", "all",
                "--tag", f"zone={'a' if i % 2 else 'b'}"]
        if i != 1:
            args += ["--join", f"{ip(1)}:7946"]
        if i == 2:
            args += ["--drop-inbound-from", ip(3)]
        if i == 3:
            # node-2 never hears node-3: it joins through the others too.
            args += ["--join", f"{ip(4)}:7946", "--join", f"{ip(5)}:7946"]
        if i in (1, 4):
            args += ["--service", f"web={ip(i)}:8080"]
        log = open(os.path.join(workdir, f"node-{i}.log"), "w")
        agents[i] = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    return agents


def all_alive(observer):
    members = get(observer, "/v1/members")
    return len(members) == N and all(m["status"] == "alive" for m in members)


def detection_bound(config):
    seconds = lambda text: parse_duration(text)
    interval = seconds(config["interval"])
    dead_after = seconds(config["timeout"]) + interval * (config["threshold"] - 1)
    return dead_after + 2 * interval + 1.0


def parse_duration(text):
    """`1s`, `200ms`, `1s 500ms` (the agent's written form)."""
    total = 0.0
    for part in text.split():
        for unit, factor in (("ms", 1e-3), ("us", 1e-6), ("s", 1.0), ("m", 60.0)):
            if part.endswith(unit) and part[: -len(unit)].replace(".", "", 1).isdigit():
                total += float(part[: -len(unit)]) * factor
                break
        else:
            raise ValueError(f"duration {text!r}")
    return total


def run(args):
    started = time.monotonic()
    workdir = tempfile.mkdtemp(prefix="vitals-ui-")
    agents = start_agents(args.vitals, workdir)
    try:
        wait("the cluster forms", 45, lambda: all(all_alive(o) for o in (1, 3, 4)))
        bound = detection_bound(get(1, "/v1/self")["config"])
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=args.chromium, headless=True,
                                        args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"http://{http(1)}/ui")
            # Every read needs the token: the page asks for it once.
            page.wait_for_selector("#auth:not([hidden])", timeout=10_000)
            page.fill("#token", TOKEN)
            page.click("#auth button")
            page.wait_for_selector("#stream[data-state=live]", timeout=10_000)
            page.wait_for_selector(f"#members tr[data-member=node-{N}][data-status=alive]", timeout=10_000)
            page.evaluate("window.__sameDocument = true")
            link = "#pairs li[data-class=link_down][data-observer=node-2][data-target=node-3]"
            page.wait_for_selector(link, timeout=20_000)
            print(f"ok: the one-way cut node-2 -> node-3 is shown as a link down")

            agents[N].send_signal(signal.SIGKILL)
            killed = time.monotonic()
            page.wait_for_selector(f"#members tr[data-member=node-{N}][data-status=dead]", timeout=bound * 1000)
            shown = time.monotonic() - killed
            assert page.evaluate("window.__sameDocument === true"), "the page was reloaded"
            print(f"ok: node-{N} shown dead {shown * 1000:.0f} ms after its SIGKILL (bound {bound:.1f} s), no reload")

            page.wait_for_selector(f"#pairs li[data-class=node_down][data-target=node-{N}]", timeout=10_000)
            classes = page.eval_on_selector_all("#pairs li[data-target=node-3]", "ls => ls.map(l => l.dataset.class)")
            assert classes == ["link_down"], f"node-3 should be one broken link, the page says {classes}"
            cell = page.get_attribute("#matrix td[data-observer=node-2][data-target=node-3]", "class")
            assert cell == "x", f"the heat map's node-2 -> node-3 cell is {cell!r}"
            print(f"ok: node-{N} is a node down, node-2 -> node-3 still a link down (cell {cell!r})")
            page.wait_for_selector(f"#failures tr[data-member=node-{N}]", timeout=5_000)
            assert not errors, f"JavaScript errors: {errors}"
            if args.screenshot:
                time.sleep(1.0)  # let the matrix re-read settle for the picture
                page.screenshot(path=args.screenshot, full_page=False)
                print(f"screenshot: {args.screenshot}")
            browser.close()
    finally:
        for agent in agents.values():
            if agent.poll() is None:
                agent.send_signal(signal.SIGTERM)
        for agent in agents.values():
            try:
                agent.wait(timeout=5)
            except subprocess.TimeoutExpired:
                agent.kill()
    print(f"browser test passed in {time.monotonic() - started:.1f} s (logs in {workdir})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vitals", default="target/debug/vitals")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--screenshot", help="save a screenshot here (e.g. docs/ui.png)")
    run(parser.parse_args())


if __name__ == "__main__":
    sys.exit(main())
