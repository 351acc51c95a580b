"""compose.yaml, the full local stack: the five services, in the right order, with settings the
service accepts and commands its CLI knows (Docker is not run here: this checks the file)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from seleto_agent import cli
from seleto_agent.settings import PROJECT_ROOT, Settings

COMPOSE = yaml.safe_load((PROJECT_ROOT / "compose.yaml").read_text())
SERVICES: dict[str, Any] = COMPOSE["services"]
APP = ("migrate", "service", "worker", "sandbox")


def test_the_stack_has_its_five_parts_and_starts_in_order() -> None:
    assert set(SERVICES) == {"postgres", "migrate", "service", "worker", "sandbox"}
    assert SERVICES["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("service", "worker"):
        # Never against a schema that is behind (/readyz would say so; better not to start).
        assert SERVICES[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"}
        }
    assert SERVICES["service"]["environment"]["WORKER_EMBEDDED"] == "false"
    assert SERVICES["service"]["ports"] == ["8000:8000"]


@pytest.mark.parametrize("name", APP)
def test_each_app_container_gets_settings_the_service_accepts(name: str) -> None:
    environment: dict[str, str] = SERVICES[name]["environment"]
    fields = {field.upper() for field in Settings.model_fields}
    assert set(environment) <= fields, set(environment) - fields
    settings = Settings(_env_file=None, **{k.lower(): v for k, v in environment.items()})  # type: ignore[arg-type]
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert "@postgres:5432/" in settings.database_url


@pytest.mark.parametrize("name", APP)
def test_each_command_is_one_the_cli_knows(name: str) -> None:
    command: list[str] = SERVICES[name]["command"]
    assert command[0] == "seleto-agent"
    parsed = cli._parser().parse_args(command[1:])
    assert parsed.command == {"migrate": "migrate", "service": "serve"}.get(name, name)
