#!/usr/bin/env python3
"""Loopback figures for the ping strategy (the ones to compare with memberlist's).

Starts N agents (default 10) with --strategy ping --preset lan on 127.50.0.x, waits until
all see each other alive, measures packets and bytes sent per node per second at rest
over 30 s, then SIGKILLs three agents in turn and times until the first and until every
survivor reports each one dead. Extra arguments go to every agent (e.g. --quorum).

    cargo build --release && python3 scripts/loopback-ping.py 10
"""
import subprocess, time, json, urllib.request, os, signal, sys, tempfile
LOGS = tempfile.mkdtemp(prefix="vitals-loopback-")
N=int(sys.argv[1]) if len(sys.argv)>1 else 10
extra=sys.argv[2:] if len(sys.argv)>2 else []
BIN=os.environ.get("VITALS_BIN", "target/release/vitals")
subnet="127.50.0"
procs={}
def start(i):
    ip=f"{subnet}.{i+1}"
    args=[BIN,"agent","--name",f"n{i}","--bind",f"{ip}:7946","--http",f"{ip}:7947","--join",f"{subnet}.2:7946","--strategy","ping","--preset","lan"]+extra
    procs[i]=subprocess.Popen(args,stdout=subprocess.DEVNULL,stderr=open(os.path.join(LOGS, f"n{i}.log"), "w"))
def members(i):
    try:
        with urllib.request.urlopen(f"http://{subnet}.{i+1}:7947/v1/members",timeout=1) as r: return json.load(r)
    except Exception: return None
def metrics(i):
    with urllib.request.urlopen(f"http://{subnet}.{i+1}:7947/metrics",timeout=1) as r: t=r.read().decode()
    d={}
    for l in t.splitlines():
        if l.startswith("vitals_") and not l.startswith("#"):
            k,v=l.rsplit(" ",1); d[k]=float(v)
    return d
def status(o,m):
    rows=members(o)
    if not rows: return None
    for r in rows:
        if r["name"]==f"n{m}": return r["status"]
for i in range(N): start(i)
t0=time.time()
while time.time()-t0<30:
    if all(status(o,m)=="alive" for o in range(N) for m in range(N)): break
    time.sleep(0.05)
print("converged", round(time.time()-t0,2))
time.sleep(10)
m0=[metrics(i) for i in range(N)]; ts=time.time(); time.sleep(30); m1=[metrics(i) for i in range(N)]; dt=time.time()-ts
pk=sum(m1[i]['vitals_messages_sent_total{kind="ping"}']+m1[i]['vitals_messages_sent_total{kind="ping_ack"}']-m0[i]['vitals_messages_sent_total{kind="ping"}']-m0[i]['vitals_messages_sent_total{kind="ping_ack"}'] for i in range(N))
allsent=lambda m: sum(v for k,v in m.items() if k.startswith("vitals_messages_sent_total"))
pkts=sum(allsent(m1[i])-allsent(m0[i]) for i in range(N))/N/dt
by=sum(m1[i]["vitals_bytes_sent_total"]-m0[i]["vitals_bytes_sent_total"] for i in range(N))/N/dt
print(f"at rest: {pkts:.2f} packets/s and {by:.0f} payload B/s sent per node ({by+28*pkts:.0f} B/s with IP+UDP headers)")
results=[]
for victim in [N-1, N-2, N-3]:
    procs[victim].send_signal(signal.SIGKILL); procs[victim].wait(); k=time.time()
    surv=[o for o in range(N) if o in procs and procs[o].poll() is None]
    first=None
    while time.time()-k<30:
        st=[status(o,victim) for o in surv]
        if first is None and "dead" in st: first=time.time()-k
        if all(s=="dead" for s in st): break
        time.sleep(0.02)
    allt=time.time()-k
    results.append((first,allt)); del procs[victim]
    print(f"kill n{victim}: first {first:.2f}s all {allt:.2f}s")
    start(victim); time.sleep(8)
for p in procs.values(): p.send_signal(signal.SIGTERM)
for p in procs.values(): p.wait()
