from __future__ import annotations

from pathlib import Path

import pytest

from seleto_agent.agents.prompts import PromptError, load_prompt
from seleto_agent.settings import PROJECT_ROOT, MissingSecretsError, Settings


def test_prod_refuses_to_start_and_names_every_missing_secret() -> None:
    settings = Settings(_env_file=None, app_env="prod", admin_token="a")  # type: ignore[call-arg]
    with pytest.raises(MissingSecretsError) as caught:
        settings.check_for_startup()
    missing = set(caught.value.missing)
    assert {"OS_SECURITY_KEY", "OPENAI_API_KEY", "ZAPI_WEBHOOK_TOKEN", "LOG_PII_KEY"} <= missing
    assert "ADMIN_TOKEN" not in missing
    assert "ZAPI_CLIENT_TOKEN" in str(caught.value)


def test_dev_starts_without_secrets() -> None:
    Settings(_env_file=None).check_for_startup()  # type: ignore[call-arg]


def test_shipped_prompt_loads_with_its_version() -> None:
    prompt = load_prompt(PROJECT_ROOT / "prompts" / "sp_agente_v1.xml")
    assert prompt.label.startswith("sp_agente@")
    assert any("assistente virtual da Seleto" in s for s in prompt.sections)
    assert any("preços" in s for s in prompt.sections)


def test_prompt_without_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.xml"
    path.write_text('<prompt id="x"><a>texto</a></prompt>')
    with pytest.raises(PromptError):
        load_prompt(path)


def test_empty_values_in_the_env_file_mean_unset(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("PIPERUN_PIPELINE_ID=\nLOG_PII_KEY=\nADMIN_TOKEN=\n")
    settings = Settings(_env_file=env)  # type: ignore[call-arg]
    assert settings.piperun_pipeline_id is None
    assert settings.admin_token is None
