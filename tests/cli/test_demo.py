"""`make demo` and `make demo PROVIDER=meta`: the scripted conversation plays to the end through
each WhatsApp simulator, labelled as a simulation, with the CRM records printed."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.slow
@pytest.mark.parametrize(
    ("provider", "label"), [("zapi", "simulated Z-API"), ("meta", "simulated the Cloud API")]
)
def test_the_demo_plays_the_whole_conversation(provider: str, label: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seleto_agent.sandbox.demo", "--provider", provider],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "AGNO_TELEMETRY": "false"},
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert f"SIMULATION — scripted lead, {label}" in out
    assert out.count("Seleto (bot): ") == 3
    # The price the scripted draft tried to give never reached the lead.
    assert "R$ 25.000" not in out
    assert "deal #" in out
    assert "ref: seleto-agent/lead/1/resumo" in out
    if provider == "meta":
        assert "'echoed': True" in out
