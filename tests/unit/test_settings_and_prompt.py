from __future__ import annotations

from pathlib import Path

import pytest

from seleto_agent.agents.prompts import PromptError, load_fixed_replies, load_prompt
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


@pytest.mark.parametrize("typed", ["+55 44 99999-9999", "5544999999999", "554499999999"])
def test_the_connected_phone_is_kept_as_e164(typed: str) -> None:
    settings = Settings(_env_file=None, zapi_connected_phone=typed)  # type: ignore[call-arg]
    assert settings.zapi_connected_phone == "+5544999999999"


def test_a_connected_phone_that_is_no_number_is_refused() -> None:
    with pytest.raises(ValueError, match="ZAPI_CONNECTED_PHONE"):
        Settings(_env_file=None, zapi_connected_phone="the company line")  # type: ignore[call-arg]


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


def test_shipped_prompt_has_every_template_the_code_fills() -> None:
    from seleto_agent.runtime import REQUIRED_TEMPLATES

    prompt = load_prompt(
        PROJECT_ROOT / "prompts" / "sp_agente_v1.xml", required_templates=REQUIRED_TEMPLATES
    )
    # Templates are filled by the code, never sent as instructions themselves.
    assert not any("{dados}" in section for section in prompt.sections)
    assert "{dados}" in prompt.template("contexto_lead")
    assert prompt.template("motivos.price") == "citava preço ou valor"


def test_prompt_missing_a_required_template_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p.xml"
    path.write_text('<prompt id="x" version="1"><a>texto</a></prompt>')
    with pytest.raises(PromptError, match="nota_correcao"):
        load_prompt(path, required_templates=frozenset({"nota_correcao"}))


def test_fixed_replies_load_and_a_missing_one_is_refused(tmp_path: Path) -> None:
    replies = load_fixed_replies(PROJECT_ROOT / "prompts" / "respostas_fixas_v1.yaml")
    assert replies.label.startswith("respostas_fixas@")
    assert "por escrito" in replies.get("audio_unusable")
    path = tmp_path / "r.yaml"
    path.write_text("id: r\nversion: 1\nreplies:\n  guardrail_fallback: oi\n")
    with pytest.raises(PromptError, match="audio_unusable, lgpd_request_received"):
        load_fixed_replies(path)
