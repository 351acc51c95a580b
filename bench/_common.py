"""Shared helpers of the benchmarks: processes, databases, /proc readings, statistics, tables.

Benchmarks print figures; nothing here asserts on timing. Every process is started by us, on
127.0.0.1, and stopped by its own process group id.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "bench"
HOST = "127.0.0.1"
WEBHOOK_TOKEN = "bench-webhook-token"
INSTANCE_ID = "SANDBOX-INSTANCE"
# The admin connection used only to create and drop the per-run database.
DEFAULT_PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    """Progress goes to stderr so stdout stays the figures."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- environment --------------------------------------------------------------------------


def _settings_env_names() -> set[str]:
    from seleto_agent.settings import Settings

    return {name.upper() for name in Settings.model_fields}


@dataclass
class BenchEnv:
    """A scratch folder per bench run: cwd of the children (no stray `.env`) and their
    bytecode cache (this machine may set PYTHONDONTWRITEBYTECODE, which makes every start
    recompile agno/openai/sqlalchemy: ~7 s instead of ~3 s)."""

    root: Path
    pycache: Path

    @classmethod
    @contextlib.contextmanager
    def create(cls) -> Iterator[BenchEnv]:
        root = Path(tempfile.mkdtemp(prefix="seleto-bench-"))
        try:
            pycache = root / "pycache"
            pycache.mkdir()
            yield cls(root=root, pycache=pycache)
        finally:
            shutil.rmtree(root, ignore_errors=True)

    def child_env(self, **overrides: str) -> dict[str, str]:
        """The parent's environment without any service setting, plus `overrides`."""
        banned = _settings_env_names()
        env = {k: v for k, v in os.environ.items() if k.upper() not in banned}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        env["AGNO_TELEMETRY"] = "false"
        env.update(overrides)
        return env


SANDBOX_INSTANCE_TOKEN = "sandbox-instance-token"
SANDBOX_CLIENT_TOKEN = "sandbox-client-token"


def sandbox_service_env(
    env: BenchEnv, db_url: str, sandbox_url: str, **overrides: str
) -> dict[str, str]:
    """The service's environment against the sandbox (Z-API simulator, scripted model)."""
    return env.child_env(
        APP_ENV="test",
        DATABASE_URL=db_url,
        LOG_LEVEL="WARNING",
        ZAPI_BASE_URL=sandbox_url,
        ZAPI_INSTANCE_ID=INSTANCE_ID,
        ZAPI_INSTANCE_TOKEN=SANDBOX_INSTANCE_TOKEN,
        ZAPI_CLIENT_TOKEN=SANDBOX_CLIENT_TOKEN,
        ZAPI_WEBHOOK_TOKEN=WEBHOOK_TOKEN,
        OPENAI_BASE_URL=f"{sandbox_url}/v1",
        OPENAI_API_KEY="sk-sandbox-not-a-real-key",
        OPENAI_MODEL="sandbox-scripted",
        **overrides,
    )


def uv_command(*args: str) -> list[str]:
    """`uv run seleto-agent ...` against this project, without touching the environment."""
    uv = shutil.which("uv")
    if uv is None:
        # `make bench` always has uv; a bare `python bench/...` may not: use the venv script.
        return [str(Path(sys.executable).parent / args[0]), *args[1:]]
    return [uv, "run", "--no-sync", "--project", str(ROOT), *args]


# --- processes ----------------------------------------------------------------------------


@dataclass
class Proc:
    """A child started in its own session; stopped through its process group only."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    started_at: float

    @classmethod
    def start(cls, name: str, cmd: Sequence[str], *, env: dict[str, str], cwd: Path) -> Proc:
        log_path = cwd / f"{name}.log"
        with log_path.open("wb") as out:
            popen = subprocess.Popen(
                list(cmd),
                env=env,
                cwd=cwd,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return cls(name=name, popen=popen, log_path=log_path, started_at=time.perf_counter())

    @property
    def pid(self) -> int:
        return self.popen.pid

    def python_pid(self) -> int:
        """The Python process doing the work: `uv run` keeps itself as the parent."""
        pid = self.pid
        for _ in range(3):
            if _is_python(pid):
                return pid
            children = _children(pid)
            if not children:
                return pid
            pid = children[0]
        return pid

    def tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 15.0) -> None:
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)


def _children(pid: int) -> list[int]:
    """Child pids, whichever thread spawned them (uv spawns from a worker thread)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(p) for p in (task / "children").read_text().split())
        except OSError:
            continue
    return sorted(found)


def _is_python(pid: int) -> bool:
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:
        return False
    return "python" in Path(exe).name


def wait_http(url: str, proc: Proc, timeout: float = 60.0) -> float:
    """Poll `url` until it answers 200; returns seconds since the process was started."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited early:\n{proc.tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if client.get(url).status_code == 200:
                    return time.perf_counter() - proc.started_at
            time.sleep(0.05)
    raise RuntimeError(f"{proc.name} did not answer {url} within {timeout}s:\n{proc.tail()}")


@contextlib.contextmanager
def running(proc: Proc) -> Iterator[Proc]:
    try:
        yield proc
    finally:
        proc.stop()


# --- /proc readings -----------------------------------------------------------------------


def _status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_mb(pid: int) -> float | None:
    kb = _status_kb(pid, "VmRSS")
    return kb / 1024 if kb is not None else None


def hwm_mb(pid: int) -> float | None:
    """Peak resident set size of the process so far (VmHWM)."""
    kb = _status_kb(pid, "VmHWM")
    return kb / 1024 if kb is not None else None


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time the process has used."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5); after the ")" split the list starts at field 3.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU jiffies of the whole machine, all cores, from /proc/stat."""
    fields = [float(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    total = sum(fields[:8])
    return total - idle, total


def machine_busy_pct(before: tuple[float, float], after: tuple[float, float]) -> float | None:
    """Share of all cores busy between two readings (100% = every core busy)."""
    total = after[1] - before[1]
    return (after[0] - before[0]) / total * 100 if total > 0 else None


def wait_idle(
    pid: int, *, threshold: float = 0.03, window: float = 1.0, timeout: float = 15.0
) -> float:
    """Wait until the process uses under `threshold` of a core for `window` seconds (start-up
    work done); returns the seconds waited."""
    start = time.perf_counter()
    last = cpu_seconds(pid)
    while time.perf_counter() - start < timeout:
        time.sleep(window)
        now = cpu_seconds(pid)
        if last is None or now is None:
            break
        if now - last < threshold * window:
            break
        last = now
    return time.perf_counter() - start


@dataclass
class RssSampler:
    """Samples VmRSS in a thread while a load runs (VmHWM gives the exact peak anyway)."""

    pid: int
    interval: float = 0.1
    samples: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            value = rss_mb(self.pid)
            if value is not None:
                self.samples.append(value)
            self._stop.wait(self.interval)

    @property
    def peak(self) -> float | None:
        return max(self.samples) if self.samples else None


# --- databases ----------------------------------------------------------------------------


def pg_admin_url() -> str:
    return os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL)


def _plain_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextlib.contextmanager
def database(kind: str, env: BenchEnv) -> Iterator[str]:
    """A fresh, migrated database for one benchmark target; dropped afterwards."""
    if kind == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="sqlite-", dir=env.root))
        url = f"sqlite:///{folder / 'bench.db'}"
        try:
            _migrate(url, env)
            yield url
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return
    if kind != "postgres":
        raise ValueError(f"unknown database kind {kind!r}")
    admin = pg_admin_url()
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_plain_dsn(admin), autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        _migrate(url, env)
        yield url
    finally:
        with psycopg.connect(_plain_dsn(admin), autocommit=True) as conn:
            conn.execute(f'drop database if exists "{name}" with (force)')


def _migrate(url: str, env: BenchEnv) -> None:
    result = subprocess.run(
        uv_command("seleto-agent", "migrate"),
        env=env.child_env(DATABASE_URL=url, LOG_LEVEL="WARNING"),
        cwd=env.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"migrate failed:\n{result.stdout}\n{result.stderr}")


def count_rows(url: str, table: str) -> int:
    if url.startswith("sqlite"):
        import sqlite3

        path = make_url(url).database
        with contextlib.closing(sqlite3.connect(str(path))) as conn:
            return int(conn.execute(f"select count(*) from {table}").fetchone()[0])
    with psycopg.connect(_plain_dsn(url)) as conn:
        row = conn.execute(f"select count(*) from {table}").fetchone()
        return int(row[0]) if row else 0


def pg_sessions(url: str) -> int | None:
    """Sessions ever opened on this database (Postgres >= 14), this probe's own included:
    the difference of two readings, minus one, is the connections others opened between them
    (approximate: backends report their statistics up to a second late)."""
    if not url.startswith("postgres"):
        return None
    with psycopg.connect(_plain_dsn(url)) as conn:
        row = conn.execute(
            "select sessions from pg_stat_database where datname = current_database()"
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else None


# --- statistics and tables ----------------------------------------------------------------


def percentile(values: Sequence[float], pct: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), sep, *(line(r) for r in rows)])


def verdict(value: float | None, target: float, *, lower_is_better: bool) -> str:
    if value is None:
        return "n/a"
    met = value <= target if lower_is_better else value >= target
    return "meets" if met else "MISSES"
