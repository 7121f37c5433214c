"""Real ``eucaim-node`` processes for the job tests: the operator's commands, serve, and workers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

NODE = [sys.executable, "-c", "from eucaim.node.cli import main; main()"]
STALLED_AFTER_S = 2


def node_env(database_url: str, **extra: str) -> dict[str, str]:
    """Return a clean environment for a node process on ``database_url`` (no inherited node settings)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("EUCAIM_NODE_", "AWS_"))}
    return (
        base
        | {
            "EUCAIM_NODE_DATABASE_URL": database_url,
            "EUCAIM_NODE_JOBS_STALLED_AFTER_S": str(STALLED_AFTER_S),
        }
        | extra
    )


def run_node(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run one ``eucaim-node`` command to its end."""
    return subprocess.run([*NODE, *args], capture_output=True, text=True, env=env, timeout=timeout)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 60, every: float = 0.05) -> Any:
    """Return the first truthy ``check()``, or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@dataclass
class NodeProcess:
    """A running ``eucaim-node serve`` or ``worker``, its log, and (for serve) its URL."""

    process: subprocess.Popen[bytes]
    log: Path
    url: str = ""
    _closed: bool = field(default=False, repr=False)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> int:
        """SIGTERM, then wait; return the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(data: Path, env: dict[str, str], *options: str) -> Iterator[NodeProcess]:
    """Run ``eucaim-node serve`` until the block ends; yield once it is ready."""
    port = _free_port()
    log = data.parent / f"{data.name}-serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*NODE, "serve", "--data", str(data), "--port", str(port), *options],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    node = NodeProcess(process, log, f"http://127.0.0.1:{port}")

    def ready() -> bool:
        assert process.poll() is None, node.log_text()[-3000:]
        try:
            return httpx.get(f"{node.url}/health/ready", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(ready, "serve to be ready", 60, every=0.1)
        yield node
    finally:
        node.stop()


@contextmanager
def working(data: Path, env: dict[str, str]) -> Iterator[NodeProcess]:
    """Run ``eucaim-node worker`` until the block ends; yield once it says it works the queue."""
    log = data.parent / f"{data.name}-worker.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*NODE, "worker", "--data", str(data)], env=env, stdout=out, stderr=subprocess.STDOUT
        )
    node = NodeProcess(process, log)

    def started() -> bool:
        assert process.poll() is None, node.log_text()[-3000:]
        return "working the job queue" in node.log_text()

    try:
        wait_for(started, "the worker to start", 60, every=0.1)
        yield node
    finally:
        node.stop()
