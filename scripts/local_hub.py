"""The Hub test server for the local cluster, as a background service: `start`, `stop`, or `serve` (foreground).

The local cluster reaches no huggingface.co. Its chart values (e2e/local/values.yaml, `hubEndpoint`)
point the operator and the pre-pull at http://198.18.0.1:18080, the real node's bridge on this
machine; this serves there the Hub API of tests/support/hub_server.py with one model, the tiny
generated Mixtral `acme/tiny-mixtral` (tests/support/tiny_model.py, random weights, made once with the
vLLM CPU virtualenv's Python and cached). The demo and the real-node tests run the same server in
their own process; this is the same thing for a person at a shell (docs/local-cluster.md).

    .venv/bin/python scripts/local_hub.py start   # returns once the Hub answers; idempotent
    .venv/bin/python scripts/local_hub.py stop
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "e2e" / "local")]  # the Hub test server, the local cluster
from localcluster import images, settings  # noqa: E402
from support.engine_pod import TINY_REPO, bridge_hub  # noqa: E402
from support.tiny_model import ensure_tiny_model  # noqa: E402

URL = f"http://{settings.BRIDGE_IP}:{settings.HUB_PORT}"
# The first start generates the tiny model (and builds the vLLM CPU virtualenv if it is missing).
START_TIMEOUT = 1800


def pid_file() -> Path:
    return settings.state_dir() / "run" / "hub.pid"


def log_file() -> Path:
    return settings.state_dir() / "logs" / "hub.log"


def running_pid() -> int | None:
    try:
        pid = int(pid_file().read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def answers() -> bool:
    try:
        with urllib.request.urlopen(f"{URL}/api/models/{TINY_REPO}", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start() -> int:
    if running_pid() and answers():
        print(f"{URL} serves {TINY_REPO} (already running)")
        return 0
    log_file().parent.mkdir(parents=True, exist_ok=True)
    pid_file().parent.mkdir(parents=True, exist_ok=True)
    with log_file().open("ab") as log:
        server = subprocess.Popen([sys.executable, __file__, "serve"], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
    pid_file().write_text(str(server.pid))
    deadline = time.monotonic() + START_TIMEOUT
    while not answers():
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            pid_file().unlink(missing_ok=True)
            tail = log_file().read_text(errors="replace")[-3000:]
            print(f"the Hub test server did not come up ({log_file()}):\n{tail}", file=sys.stderr)
            return 1
        time.sleep(1)
    print(f"{URL} serves {TINY_REPO} (pid {server.pid}, log {log_file()})")
    return 0


def stop() -> int:
    pid = running_pid()
    if pid is None:
        print("the Hub test server is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 20
    while running_pid() and time.monotonic() < deadline:
        time.sleep(0.2)
    if running_pid():
        os.kill(pid, signal.SIGKILL)
    pid_file().unlink(missing_ok=True)
    print(f"stopped the Hub test server (pid {pid})")
    return 0


def serve() -> int:
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    model = ensure_tiny_model(images.engine_venv() / "bin" / "python")
    with bridge_hub(model) as hub:
        print(f"{hub.url} serves {TINY_REPO} from {model}", flush=True)
        stopped.wait()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["start", "stop", "serve"])
    return {"start": start, "stop": stop, "serve": serve}[parser.parse_args().command]()


if __name__ == "__main__":
    sys.exit(main())
