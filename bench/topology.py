"""Pieces of the scale benchmark's production topology (bench/scale_topology.py): the sandbox
with a request counter, a local receiver for the automations' webhook action, the `web`,
`worker` and `scheduler` processes, and per-process peak RSS / CPU read from /proc.

Kept apart from the driver so each piece stays small; nothing here is product code.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bench.cpu import children, own_cpu_seconds

ROOT = Path(__file__).resolve().parents[1]


# --- the sandbox's request counter -------------------------------------------------------------

def count_requests(sandbox) -> Counter:
    """Count every request the started sandbox answers by `METHOD /v1/<resource>` (the
    sandbox stands for Stripe, so this is what Stripe would bill against the rate limit)."""
    counts: Counter = Counter()
    api = sandbox._server.httpd.RequestHandlerClass.api
    handle, lock = api.handle, threading.Lock()

    def counted(method, path, params, version=None):
        parts = path.strip("/").split("/")
        with lock:
            counts[f"{method} /{'/'.join(parts[:2])}"] += 1
        return handle(method, path, params, version)

    api.handle = counted
    return counts


# --- the receiver: where the automation's webhook action lands ---------------------------------

class Receiver:
    """A threaded stdlib HTTP server recording each POST's subscription id, contact id and the
    wall-clock time its body arrived (the first arrival per subscription is what counts)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        self.total = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:
                return

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.time()
                try:
                    payload = json.loads(body)
                    sub = (payload.get("subscription") or {}).get("id")
                except (ValueError, AttributeError):
                    sub = None
                receiver.total += 1
                if sub and sub not in receiver.arrivals:
                    receiver.arrivals[sub] = at
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/hook"

    def stop(self) -> None:
        self.httpd.shutdown()


# --- /proc: peak RSS and CPU of a process tree -------------------------------------------------

def vm_hwm_mb(pid: int) -> float:
    """VmHWM (peak resident set) of one process in MB; 0 when it is gone."""
    try:
        found = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    except OSError:
        return 0.0
    return int(found.group(1)) / 1024 if found else 0.0


class Watch:
    """Samples VmHWM of named process trees every `every` s, keeping each pid's maximum (a
    process read only at the end would be missed if it had exited), and reads their CPU."""

    def __init__(self, every: float = 2.0) -> None:
        self.roots: dict[str, int] = {}
        self.peaks: dict[tuple[str, int], float] = {}
        self._stop = threading.Event()
        self._every = every
        threading.Thread(target=self._run, daemon=True).start()

    def add(self, role: str, pid: int) -> None:
        self.roots[role] = pid

    def pids(self) -> dict[str, list[int]]:
        return {role: [pid, *children(pid)] for role, pid in list(self.roots.items())}

    def sample(self) -> None:
        for role, pids in self.pids().items():
            for pid in pids:
                hwm = vm_hwm_mb(pid)
                if hwm:
                    self.peaks[(role, pid)] = max(self.peaks.get((role, pid), 0.0), hwm)

    def cpu_by_role(self) -> dict[str, dict[int, float]]:
        """`cpu()` grouped by role (web, worker, scheduler): where an idle hour goes."""
        return {role: {pid: own_cpu_seconds(pid) for pid in pids} for role, pids in self.pids().items()}

    def cpu(self) -> dict[int, float]:
        """CPU seconds so far of every live process of the watched trees, by pid."""
        return {pid: own_cpu_seconds(pid) for pids in self.pids().values() for pid in pids}

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()

    def stop(self) -> None:
        self.sample()
        self._stop.set()


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two `Watch.cpu()` readings (processes born in between count whole)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


# --- the production processes ------------------------------------------------------------------

def start_process(role: str, args: list[str], env: dict[str, str], log_dir: Path) -> subprocess.Popen:
    """`stripe-lifecycle <args>` in a process of its own, logs to <log_dir>/<role>.log."""
    log = open(log_dir / f"{role}.log", "ab")  # noqa: SIM115 - closed with the process
    return subprocess.Popen([sys.executable, "-m", "worker.cli.main", *args], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_process(proc: subprocess.Popen, timeout: float = 30) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


def wait_healthy(url: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status in (200, 503):
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


def wait_quiet(watch: Watch, *, window: float = 10.0, below: float = 0.5, timeout: float = 1800) -> float:
    """Wait until the watched processes use less than `below` CPU-s over `window` s (the
    topology has settled: first sync and evaluation done); returns the seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        before = watch.cpu()
        time.sleep(window)
        if cpu_delta(before, watch.cpu()) < below:
            break
    return time.monotonic() - started


def cli(args: list[str], env: dict[str, str], log_dir: Path, name: str) -> dict:
    """One CLI command in its own process under /usr/bin/time: peak RSS, wall, CPU, exit code,
    stdout (kept in <log_dir>/<name>.out; JSON parsed when it is one object)."""
    out_path = log_dir / f"{name}.out"
    started = time.perf_counter()
    with open(out_path, "wb") as out:
        done = subprocess.run(["/usr/bin/time", "-f", "TIME %M %U %S", sys.executable, "-m", "worker.cli.main",
                               *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.PIPE, check=False)
    wall = time.perf_counter() - started
    stderr = done.stderr.decode(errors="replace")
    (log_dir / f"{name}.err").write_text(stderr)
    found = re.search(r"TIME (\d+) ([\d.]+) ([\d.]+)", stderr)
    result = {"command": " ".join(args), "code": done.returncode, "wall": wall,
              "rss_mb": int(found.group(1)) / 1024 if found else float("nan"),
              "cpu": float(found.group(2)) + float(found.group(3)) if found else float("nan"), "json": None}
    if out_path.stat().st_size < 5_000_000 and args[-1] == "--json":
        try:
            result["json"] = json.loads(out_path.read_bytes())
        except ValueError:
            pass
    return result
