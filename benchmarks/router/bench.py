"""The router's data path against a direct connection, nginx and a Python (aiohttp) relay.

Everything runs on 127.0.0.1: a fake engine (``loadgen backend``: OpenAI-shaped SSE chunks at a steady
rate, each stamped with the time it was written), a proxy in front of it, and a load client (``loadgen
client``) that keeps N streams open back to back. Both load programs are Go (``loadgen/``) so that they
are not the bottleneck. For each proxy and each concurrency the runner reports

- chunks relayed per CPU-second of the proxy (utime + stime of the proxy's processes, from /proc, over the
  measured window: the client counts the chunks that arrived in the same window), and its inverse, CPU
  microseconds per chunk;
- time to first byte and each chunk's transit (backend write to client read), p50 and p99, and the same
  less the direct connection's figure: the latency the proxy adds;
- the proxy's resident memory per open stream, and per held request: N requests that have no answer
  yet (the router holds them with no ready replica; nginx and the relay wait on a backend that holds its
  response headers).

    .venv/bin/python benchmarks/router/bench.py          # writes results.md and results.json here
    .venv/bin/python benchmarks/router/bench.py --quick  # a short smoke run, results not written
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
GO = shutil.which("go") or "/usr/local/go/bin/go"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BACKEND_PORT = 9001
PROXY_PORT = 8090
# The Go router built and measured against the Python one before the choice (docs/decisions.md, "Router").
GO_ROUTER_COMMIT = "9fd56c7"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# (concurrent streams, chunks per second per stream). A Mixtral replica streams about 2,000 tokens/s at full
# batch; 100 streams at 50/s is 2.5 replicas' worth (5,000 chunks/s), 1,000 streams at 10/s is 5 (10,000
# chunks/s): as much as the proxy, the client and the backend can share 2 cores with, and a chunk per token.
LOADS = ((100, 50), (1000, 10))
HELD = 1000


@dataclass
class Run:
    proxy: str
    concurrency: int
    chunks_per_stream_second: int
    chunks: int = 0
    errors: int = 0
    first_error: str = ""
    offered_chunks_per_second: float = 0.0
    relayed_chunks_per_second: float = 0.0
    proxy_cpu_seconds: float = 0.0
    cpu_us_per_chunk: float | None = None
    chunks_per_core_second: float | None = None
    ttfb_p50_ms: float = 0.0
    ttfb_p99_ms: float = 0.0
    chunk_p50_ms: float = 0.0
    chunk_p99_ms: float = 0.0
    rss_mib_streaming: float | None = None
    kib_per_open_stream: float | None = None
    load_average: list[float] = field(default_factory=list)


@dataclass
class Held:
    proxy: str
    requests: int
    how: str
    rss_idle_mib: float
    rss_held_mib: float
    kib_per_held_request: float


def build(out: Path, with_go_router: bool) -> tuple[Path, Path]:
    """Go builds of the load programs and, when asked, of the Go router the decision measured (taken from
    its commit: docs/decisions.md, "Router"), into the run's own directory."""
    loadgen, router = out / "loadgen", out / "modelfleet-router"
    subprocess.run([GO, "build", "-o", str(loadgen), "."], cwd=HERE / "loadgen", check=True)
    if with_go_router:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", GO_ROUTER_COMMIT, "router"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive, check=True)
        subprocess.run(["bash", str(out / "router" / "go.sh"), "build", "-o", str(router), "."], check=True)
    return loadgen, router


def wait_port(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port}")


def descendants(pid: int) -> list[int]:
    """The process and its children (nginx's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo.extend(children.get(p, []))
    return found


def cpu_seconds(pid: int) -> float:
    total = 0
    for p in descendants(pid):
        fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of proc(5))
    return total / CLOCK_TICKS


def rss_mib(pid: int) -> float:
    pages = sum(int(Path(f"/proc/{p}/statm").read_text().split()[1]) for p in descendants(pid))
    return pages * PAGE / 2**20


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start_proxy(name: str, work: Path, router: Path, hold_only: bool = False) -> subprocess.Popen[bytes] | None:
    backend = f"127.0.0.1:{BACKEND_PORT}"
    if name == "direct":
        return None
    if name == "nginx":
        conf = (HERE / "nginx.conf.in").read_text()
        conf = conf.replace("@DIR@", str(work)).replace("@BACKEND@", backend).replace("@PORT@", str(PROXY_PORT))
        (work / "nginx.conf").write_text(conf)
        cmd = [NGINX, "-p", str(work), "-c", str(work / "nginx.conf")]
    elif name in ("aiohttp", "aiohttp-uvloop"):
        cmd = [sys.executable, str(HERE / "aiohttp_relay.py"), "--listen-port", str(PROXY_PORT),
               "--backend", f"http://{backend}", *(["--uvloop"] if name == "aiohttp-uvloop" else [])]
    elif name == "router-python":
        # A name with no records is a fleet with no ready replica: every request is held.
        cmd = [str(Path(sys.executable).parent / "modelfleet"), "router", "--host", "127.0.0.1",
               "--port", str(PROXY_PORT), "--admin-port", "9091", "--max-held", str(HELD * 2),
               "--max-hold-seconds", "600",
               *(["--endpoints-dns", "nothing.invalid"] if hold_only else ["--endpoints-static", backend])]
    elif name in ("router-go", "router-go-1cpu"):
        # --endpoints-static "" is a fleet with no ready replica: every request is held.
        cmd = [str(router), "--listen", f"127.0.0.1:{PROXY_PORT}", "--admin-listen", "127.0.0.1:9091",
               "--endpoints-static", "" if hold_only else backend, "--max-held", str(HELD * 2),
               "--max-hold", "10m"]
    else:
        raise ValueError(name)
    # router-go-1cpu: one Go scheduler thread, as in a pod with a 1-CPU limit (Go sizes GOMAXPROCS by it).
    env = {**os.environ, "GOMAXPROCS": "1"} if name == "router-go-1cpu" else None
    with open(work / f"{name}.log", "ab") as log:  # the child keeps its own copy of the descriptor
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log, env=env)
    wait_port(PROXY_PORT)
    return proc


def url(name: str) -> str:
    port = BACKEND_PORT if name == "direct" else PROXY_PORT
    return f"http://127.0.0.1:{port}/v1/completions"


def measure_streams(name: str, proxy: subprocess.Popen[bytes] | None, loadgen: Path, work: Path,
                    concurrency: int, tps: int, seconds: float) -> Run:
    start_file = work / "started"
    start_file.unlink(missing_ok=True)
    rss_before = rss_mib(proxy.pid) if proxy else None
    chunks = int(tps * 4)  # 4-second streams: new requests keep arriving during the window
    client = subprocess.Popen(
        [str(loadgen), "client", "--url", url(name), "--concurrency", str(concurrency), "--tps", str(tps),
         "--chunks", str(chunks), "--duration", f"{seconds}s", "--ramp", "5s", "--start-file", str(start_file)],
        stdout=subprocess.PIPE)
    while not start_file.exists():
        time.sleep(0.01)
    run = Run(name, concurrency, tps)
    cpu0 = cpu_seconds(proxy.pid) if proxy else 0.0
    time.sleep(seconds / 2)
    rss_streaming = rss_mib(proxy.pid) if proxy else None
    time.sleep(seconds / 2)
    cpu1 = cpu_seconds(proxy.pid) if proxy else 0.0
    run.load_average = list(os.getloadavg())
    out, _ = client.communicate()
    res = json.loads(out)
    run.chunks, run.errors, run.first_error = res["chunks"], res["errors"], res.get("first_error", "")
    run.offered_chunks_per_second = concurrency * tps
    run.relayed_chunks_per_second = round(res["chunks_per_second"], 1)
    for key in ("ttfb_p50_ms", "ttfb_p99_ms", "chunk_p50_ms", "chunk_p99_ms"):
        setattr(run, key, res[key])
    if proxy:
        run.proxy_cpu_seconds = round(cpu1 - cpu0, 2)
        if run.chunks and run.proxy_cpu_seconds > 0:
            run.cpu_us_per_chunk = round(run.proxy_cpu_seconds / run.chunks * 1e6, 2)
            run.chunks_per_core_second = round(run.chunks / run.proxy_cpu_seconds)
        run.rss_mib_streaming = round(rss_streaming or 0, 1)
        run.kib_per_open_stream = round(((rss_streaming or 0) - (rss_before or 0)) * 1024 / concurrency, 1)
    return run


def measure_held(name: str, proxy: subprocess.Popen[bytes], loadgen: Path, work: Path, how: str) -> Held:
    time.sleep(1)
    idle = rss_mib(proxy.pid)
    ready = work / "held"
    ready.unlink(missing_ok=True)
    client = subprocess.Popen([str(loadgen), "hold", "--url", url(name), "--concurrency", str(HELD),
                               "--ready-file", str(ready)], stdout=subprocess.DEVNULL)
    try:
        while not ready.exists():
            if client.poll() is not None:
                raise RuntimeError(f"hold client for {name} exited {client.returncode}")
            time.sleep(0.05)
        time.sleep(1)
        held = rss_mib(proxy.pid)
    finally:
        stop(client)
    return Held(name, HELD, how, round(idle, 1), round(held, 1), round((held - idle) * 1024 / HELD, 1))


def wait_for_quiet(limit: float, max_wait: float) -> tuple[bool, float]:
    """Waits until the 1-minute load average is under `limit` (other work shares this machine)."""
    deadline = time.monotonic() + max_wait
    while True:
        load = os.getloadavg()[0]
        if load < limit or time.monotonic() >= deadline:
            return load < limit, load
        time.sleep(10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20, help="measured window per run")
    parser.add_argument("--quick", action="store_true", help="short runs, nothing written")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.md and results.json go")
    parser.add_argument("--repeat", type=int, default=3, help="rounds over every proxy; the median round is reported")
    parser.add_argument("--proxies",
                        default="direct,nginx,aiohttp,aiohttp-uvloop,router-python,router-go,router-go-1cpu")
    parser.add_argument("--quiet-load", type=float, default=1.5, help="wait for a 1-minute load under this")
    parser.add_argument("--quiet-wait", type=float, default=900, help="seconds to wait for it at most")
    args = parser.parse_args()
    seconds = 5 if args.quick else args.seconds
    proxies = args.proxies.split(",")

    with tempfile.TemporaryDirectory(prefix="bench-router-") as tmp:
        work = Path(tmp)
        loadgen, router = build(work, any(p.startswith("router-go") for p in proxies))
        quiet, load_at_start = (True, os.getloadavg()[0]) if args.quick else wait_for_quiet(
            args.quiet_load, args.quiet_wait)
        started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        backend = subprocess.Popen([str(loadgen), "backend", "--listen", f"127.0.0.1:{BACKEND_PORT}"])
        runs: list[Run] = []
        held: list[Held] = []
        try:
            wait_port(BACKEND_PORT)
            for name in [p for _ in range(1 if args.quick else args.repeat) for p in proxies]:
                if name != "direct":
                    # Held requests first, on a fresh process: after the streams, its allocator has grown.
                    proxy = start_proxy(name, work, router, hold_only=True)
                    try:
                        how = ("held: no ready replica" if name.startswith("router")
                               else "waiting on the backend's headers")
                        held.append(measure_held(name, proxy, loadgen, work, how))
                        print(json.dumps(asdict(held[-1])), flush=True)
                    finally:
                        stop(proxy)
                proxy = start_proxy(name, work, router)
                try:
                    for concurrency, tps in LOADS:
                        runs.append(measure_streams(name, proxy, loadgen, work, concurrency, tps, seconds))
                        print(json.dumps(asdict(runs[-1])), flush=True)
                        time.sleep(2)
                finally:
                    if proxy:
                        stop(proxy)
        finally:
            stop(backend)
        meta = {
            "command": " ".join(["python", "benchmarks/router/bench.py", *sys.argv[1:]]),
            "started": started,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.release()}",
            "quiet": quiet,
            "load_average_at_start": round(load_at_start, 2),
            "nginx": subprocess.run([NGINX, "-v"], capture_output=True, text=True).stderr.strip(),
            "go": subprocess.run([GO, "version"], capture_output=True, text=True).stdout.strip(),
            "python": platform.python_version(),
            "seconds": seconds,
            "held_requests": HELD,
        }
    if args.quick:
        return
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(
        {"meta": meta, "runs": [asdict(r) for r in runs], "held": [asdict(h) for h in held]}, indent=2) + "\n")
    from report import render  # the table is its own small module

    (args.out / "results.md").write_text(render(meta, runs, held))


if __name__ == "__main__":
    main()
