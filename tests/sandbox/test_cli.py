"""`python -m stripe_sandbox` serves a generated account until interrupted."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_module_entry_serves_until_ctrl_c():
    proc = subprocess.Popen([sys.executable, "-m", "stripe_sandbox", "--customers", "40", "--port", "0",
                             "--seed", "3", "--start", "2026-11-01T00:00:00Z"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        first = proc.stdout.readline()
        url = first.split(" at ", 1)[1].split()[0]
        lines = [proc.stdout.readline() for _ in range(3)]
        assert any("STRIPE_API_KEY=sk_test_sandbox" in line for line in lines)
        request = urllib.request.Request(f"{url}/v1/customers?limit=100",
                                         headers={"Authorization": "Bearer sk_test_sandbox"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert len(json.loads(response.read())["data"]) == 40
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
