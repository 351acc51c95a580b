"""Worker processes for the stress test: real `seleto-agent worker` processes, started with the
service's settings as environment, killed with SIGKILL at random and started again."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from seleto_agent.settings import Settings

SCRIPT = Path(sys.executable).parent / "seleto-agent"


def settings_env(settings: Settings, **overrides: Any) -> dict[str, str]:
    """The environment a process needs to build these settings (pydantic-settings reads
    each field from its upper-case name)."""
    # Nothing else from this environment: a stray DATABASE_URL must not redirect a worker.
    env = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "TMPDIR") if key in os.environ}
    values = settings.model_dump() | overrides
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    env["AGNO_TELEMETRY"] = "false"
    return env


@dataclass
class WorkerPool:
    """`count` worker processes; `outbox` of them also run the outbox."""

    settings: Settings
    count: int
    outbox: int
    log_dir: Path
    processes: list[subprocess.Popen[bytes] | None] = field(default_factory=list)
    kills: int = 0
    starts: int = 0

    def start(self) -> None:
        self.processes = [None] * self.count
        for index in range(self.count):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        env = settings_env(self.settings, worker_embedded=True, outbox_enabled=index < self.outbox)
        log = (self.log_dir / f"worker-{index}-{self.starts}.log").open("wb")
        self.processes[index] = subprocess.Popen(
            [str(SCRIPT), "worker"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            # No `.env` of the checkout is read: the settings are all in `env`.
            cwd=self.log_dir,
        )
        self.starts += 1

    def kill_one(self, rng: random.Random) -> None:
        """SIGKILL one worker (no clean-up, like a crashed host) and start a new one."""
        index = rng.randrange(self.count)
        process = self.processes[index]
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
            self.kills += 1
        self._spawn(index)

    def stop(self) -> None:
        for process in self.processes:
            if process is not None and process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            if process is not None:
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
