#!/usr/bin/env python3
"""Which pages of the `vitals` binary a running agent has resident (docs/DEPLOY.md,
"Footprint"): reads /proc/PID/maps and /proc/PID/pagemap (root), and prints the resident
KiB per ELF section of the binary (`readelf -S`) and which 64 KiB blocks of `.text` hold
a resident page.

    python3 scripts/resident-pages.py PID target/dist/vitals
"""
import os, struct, subprocess, sys

pid, binary = int(sys.argv[1]), os.path.realpath(sys.argv[2])
mappings = []
for line in open(f"/proc/{pid}/maps"):
    fields = line.split()
    if len(fields) >= 6 and fields[5] == binary:
        start, end = (int(x, 16) for x in fields[0].split("-"))
        mappings.append((start, end, int(fields[2], 16)))
if not mappings:
    sys.exit(f"{binary} is not mapped by process {pid}")
base = mappings[0][0] - mappings[0][2]  # where the file's offset 0 (address 0) is loaded

sections = {}
for line in subprocess.run(["readelf", "-SW", binary], capture_output=True, text=True).stdout.splitlines():
    fields = line.replace("[ ", "[").split()
    if len(fields) > 5 and fields[0].startswith("[") and fields[1].startswith("."):
        sections[fields[1]] = (int(fields[3], 16), int(fields[5], 16))


def section_of(address):
    for name, (start, size) in sections.items():
        if start <= address < start + size:
            return name
    return "?"


resident, kib = [], {}
with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
    for start, end, _ in mappings:
        for page in range(start, end, 4096):
            pagemap.seek(page // 4096 * 8)
            if struct.unpack("<Q", pagemap.read(8))[0] >> 63:
                name = section_of(page - base)
                kib[name] = kib.get(name, 0) + 4
                resident.append(page - base)
print("resident KiB per section:", ", ".join(f"{n} {k}" for n, k in sorted(kib.items(), key=lambda x: -x[1])),
      f"(total {sum(kib.values())})")
text = sections[".text"][0]
blocks = sorted({(a - text) // 65536 for a in resident if text <= a < text + sections[".text"][1]})
print(f".text: {kib.get('.text', 0)} KiB resident in {len(blocks)} of "
      f"{(sections['.text'][1] + 65535) // 65536} blocks of 64 KiB: {blocks}")
