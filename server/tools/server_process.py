"""`python -m server` as a child process, for the tools and tests that measure or exercise a real one.

    with server("--model", path) as running:      # --port 0: a free loopback port
        running.address, running.log_lines, running.reset_peak(), running.peak_mb()

The server's log (stderr) is drained by a thread into `log_lines`, so a chatty server never blocks on
a full pipe; a server that does not print `listening on HOST:PORT` within `startup_seconds` is killed.
Memory figures come from /proc/PID/status (Linux): the peak (VmHWM) is reset through
/proc/PID/clear_refs, so a peak read after `reset_peak()` belongs to what happened since.
"""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120.0


def status_kb(pid: int, field: str) -> int:
    """A memory field of /proc/PID/status ("VmRSS", "VmHWM"), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} for process {pid}")


class ServerProcess:
    """`python -m MODULE --port 0 [--threads N] FLAGS` run from `checkout` (default: this one).

    `module`: "server", or "server.studio" (give it threads=0); `threads`: torch's CPU threads (0: the
    server's default); `env`: more environment variables. Raises RuntimeError when it exits or does not
    listen in time.
    """

    def __init__(self, *flags: str, checkout: Path = REPO, threads: int = 1,
                 startup_seconds: float = STARTUP_SECONDS, module: str = "server", env: dict | None = None):
        env = dict(os.environ, PYTHONPATH=str(checkout), PYTHONUNBUFFERED="1", **(env or {}))
        command = [sys.executable, "-m", module, "--port", "0", *(["--threads", str(threads)] if threads else []),
                   *flags]
        self.process = subprocess.Popen(command, cwd=checkout, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.log_lines: list[str] = []
        self._drain = threading.Thread(target=lambda: self.log_lines.extend(self.process.stderr), daemon=True)
        self._drain.start()
        try:
            self.address = self._wait_listening(startup_seconds)
        except BaseException:
            self.close()
            raise

    def _wait_listening(self, seconds: float) -> str:
        watchdog = threading.Timer(seconds, self.process.kill)  # readline would wait for ever on a silent server
        watchdog.start()
        try:
            for line in self.process.stdout:
                if line.startswith("listening on "):
                    return line.removeprefix("listening on ").strip()
        finally:
            watchdog.cancel()
        self.process.wait()
        self._drain.join(5)
        raise RuntimeError(f"the server did not listen within {seconds:g} s (exit code {self.process.returncode}): "
                           f"{''.join(self.log_lines)}")

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_mb(self) -> float:
        return status_kb(self.pid, "VmRSS") / 1024

    def reset_peak(self) -> float:
        """Reset the peak RSS to the current RSS; returns the current RSS in MB."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")
        return self.rss_mb()

    def peak_mb(self) -> float:
        return status_kb(self.pid, "VmHWM") / 1024

    def close(self, grace: float = 0.0) -> None:
        """Kill it; with `grace`, first ask it to stop (SIGTERM) and give it that many seconds."""
        if grace and self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        self._drain.join(5)
        self.process.stdout.close()
        self.process.stderr.close()


@contextlib.contextmanager
def server(*flags: str, grace: float = 0.0, **options):
    """A ServerProcess (options as its constructor's), stopped at the end of the block (see `close`)."""
    running = ServerProcess(*flags, **options)
    try:
        yield running
    finally:
        running.close(grace)
