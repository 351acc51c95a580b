"""`seleto-agent piperun discover` against the PipeRun simulator."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from seleto_agent import cli
from seleto_agent.sandbox.config import SandboxConfig
from seleto_agent.services.piperun_discover import run_discover, table
from seleto_agent.settings import Settings, get_settings
from tests.conftest import Sandbox


def _settings(sandbox: Sandbox, token: str | None = SandboxConfig().piperun_token) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None, piperun_base_url=sandbox.piperun_url, piperun_token=token
    )


async def test_discover_prints_the_seeded_ids(sandbox: Sandbox) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await run_discover(_settings(sandbox), out=out, err=err) == 0
    text = out.getvalue()
    assert err.getvalue() == ""
    lines = text.splitlines()
    assert "100848  Funil SDR" in lines
    # Stages sit under their pipeline, indented, with their order.
    sdr = lines.index("pipeline 100848  Funil SDR")
    assert lines[sdr + 2].split() == ["647558", "1", "LEAD", "NOVO", "SDR"]
    assert lines.index("pipeline 100849  Vendas") > sdr
    for origin in ("556735  WhatsApp", "556694  Site", "638648  Ação Marketing"):
        assert origin in lines
    assert any(line.startswith("42002  SDR Seleto") and line.endswith("yes") for line in lines)
    assert all(line == line.rstrip() for line in lines)


async def test_discover_with_a_wrong_token_exits_1_with_a_clear_message(
    sandbox: Sandbox,
) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert await run_discover(_settings(sandbox, token="f" * 32), out=out, err=err) == 1
    assert "check PIPERUN_TOKEN" in err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert out.getvalue() == ""


async def test_discover_with_piperun_down_exits_1(sandbox: Sandbox) -> None:
    sandbox.piperun_faults(down=True)
    err = io.StringIO()
    assert await run_discover(_settings(sandbox), out=io.StringIO(), err=err) == 1
    assert "PipeRun is unavailable" in err.getvalue()


def test_missing_token_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("PIPERUN_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env to pick a token from
    get_settings.cache_clear()
    try:
        assert cli.main(["piperun", "discover"]) == 2
    finally:
        get_settings.cache_clear()
    assert "PIPERUN_TOKEN is not set" in capsys.readouterr().err


def test_tables_are_aligned() -> None:
    rendered = table(["id", "name"], [(1, "Funil"), (100848, "SDR")])
    assert rendered.splitlines() == ["id      name", "1       Funil", "100848  SDR"]
