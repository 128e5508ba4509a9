"""What the Python benchmarks share while they run: the load average sampled by phase (the
system being measured), the load average now, and the host kind that names results files
(bench/host_kind.sh). Imported by groups_bench.py and coordinator_quorum_bench.py."""
import os
import statistics
import subprocess
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class LoadSampler:
    """The 1-minute load average every 5 s while the benchmark runs, by phase (the system
    being measured)."""

    def __init__(self):
        self.samples, self.phase, self.stopped = [], None, threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        while not self.stopped.wait(5):
            self.samples.append((self.phase, os.getloadavg()[0]))

    def stop(self):
        self.stopped.set()

    def summary(self, phase=None):
        xs = [x for p, x in self.samples if phase is None or p == phase]
        if not xs:
            return "no sample"
        return f"min {min(xs):.2f}, median {statistics.median(xs):.2f}, max {max(xs):.2f}"


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def host_kind():
    out = subprocess.run(["bash", "-c", f"source {ROOT}/bench/host_kind.sh && echo $host_kind"],
                         capture_output=True, text=True)
    return out.stdout.strip() or "unknown"
