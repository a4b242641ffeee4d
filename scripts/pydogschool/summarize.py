"""Summarizes a run of scripts/pydogschool/run: Go and Python side by side."""
import json, re, statistics, sys
d = sys.argv[1]
go, py = {}, {}
for line in open(f"{d}/go.txt"):
    m = re.match(r"BenchmarkDogSchool/(\w+)/dogs=1000/(\w+)/lib-\d+\s+(\d+)\s+(.*)", line)
    if not m: continue
    st, ph, n, rest = m.groups()
    vals = dict((u, float(v)) for v, u in re.findall(r"([\d.]+) (\S+)", rest))
    per = vals[ph + "/op"]
    go.setdefault((st, ph), []).append((per * 1e9 / vals["ns/op"], per * 1e9 / vals["cpu-ns/op"]))
for line in open(f"{d}/py.jsonl"):
    r = json.loads(line)
    if "bench" not in r: continue
    _, st, _, ph = r["bench"].split("#")[0].split("/")
    per = r[ph + "_per_op"]
    py.setdefault((st, ph), []).append((per * 1e9 / r["ns_op"], per * 1e9 / r["cpu_ns_op"]))
def fmt(v): return f"{statistics.median(v):,.0f} [{min(v):,.0f}–{max(v):,.0f}]"
print("| store | phase | n | Go /s wall: median [range] | Python /s wall: median [range] | Go/Py (medians) | Go /s per CPU-s | Python /s per CPU-s | Go/Py (CPU) |")
print("|---|---|---|---|---|---|---|---|---|")
for k in [("memory","commands"),("memory","gets"),("sqlite","commands"),("sqlite","gets")]:
    g, p = go.get(k, []), py.get(k, [])
    gw, gc = [x[0] for x in g], [x[1] for x in g]
    pw, pc = [x[0] for x in p], [x[1] for x in p]
    print(f"| {k[0]} | {k[1]} | {len(g)}/{len(p)} | {fmt(gw)} | {fmt(pw)} | {statistics.median(gw)/statistics.median(pw):.1f}× | {fmt(gc)} | {fmt(pc)} | {statistics.median(gc)/statistics.median(pc):.1f}× |")
