"""A fresh clone alone passes `make test`: nothing reads outside the repository, and a missing
Postgres is one clear line, not hundreds of connection errors."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seleto_agent.settings import PROJECT_ROOT

# `../shared`, `/work/...`, a "shared" path segment, or climbing out of the checkout.
OUTSIDE = re.compile(r"""\.\./shared|/work/|["']shared["']|PROJECT_ROOT\.parent|parents\[[3-9]\]""")


def test_no_code_or_test_reads_outside_the_repository() -> None:
    offenders = []
    this_file = Path(__file__).resolve()
    for folder in ("src", "tests"):
        for path in sorted((PROJECT_ROOT / folder).rglob("*.py")):
            if path.resolve() == this_file:  # its pattern names what it looks for
                continue
            for number, line in enumerate(path.read_text().splitlines(), start=1):
                if OUTSIDE.search(line):
                    offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert offenders == [], "copy what you need into tests/fixtures/vendor/:\n" + "\n".join(
        offenders
    )


@pytest.mark.slow
def test_an_unreachable_postgres_fails_the_run_at_once_with_one_clear_line() -> None:
    env = {**os.environ, "TEST_DATABASE_URL": "postgresql://postgres:hunter2@127.0.0.1:1/postgres"}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/db/test_schema.py", "-q", "-p", "no:cacheprovider"],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert time.monotonic() - started < 60
    lines = [line for line in output.splitlines() if "is not reachable" in line]
    assert len(lines) == 1, output
    assert "127.0.0.1:1" in lines[0]
    assert "pg_ctlcluster" in lines[0]
    assert "hunter2" not in output
    assert "Connection refused" not in output.replace(lines[0], "")
    assert " passed" not in output
