"""The alert rules and the dashboard in deploy/: valid for Prometheus, every alert's condition
triggered by its unit test (`promtool test rules`), and only metrics the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import yaml
from prometheus_client import REGISTRY

import seleto_agent.observability.metrics  # noqa: F401  (registers every metric)
from seleto_agent.settings import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"
RULES = DEPLOY / "prometheus" / "alerts.yml"
RUNBOOK = PROJECT_ROOT / "docs" / "RUNBOOK.md"
# make test / .ci/install-promtool put it there; a missing one is a failure, never a skip.
PROMTOOL = shutil.which("promtool") or "promtool"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], capture_output=True, text=True, check=False, timeout=60
    )


# The series names a family exposes, samples or not (a labelled metric has none until used).
_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "gauge": ("",),
}


def exported_metrics() -> set[str]:
    names: set[str] = set()
    for family in REGISTRY.collect():
        names.update(family.name + suffix for suffix in _SUFFIXES.get(family.type, ("",)))
    return names


def referenced_metrics(text: str) -> set[str]:
    return set(re.findall(r"\bseleto_[a-z_]+\b", text))


def test_the_rules_are_valid_and_every_alert_fires_on_its_condition() -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", str(DEPLOY / "prometheus" / "alerts_test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr
    alerts = [r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    unit_tests = (DEPLOY / "prometheus" / "alerts_test.yml").read_text()
    for alert in alerts:
        assert f"alertname: {alert}" in unit_tests, f"{alert} has no unit test"


def test_rules_and_dashboard_use_only_metrics_the_service_exports() -> None:
    exported = exported_metrics()
    for path in (RULES, DEPLOY / "grafana" / "seleto-agent.json"):
        missing = referenced_metrics(path.read_text()) - exported
        assert not missing, f"{path.name}: {sorted(missing)}"


def test_every_alert_has_a_drill_in_the_runbook() -> None:
    runbook = RUNBOOK.read_text()
    for group in yaml.safe_load(RULES.read_text())["groups"]:
        for rule in group["rules"]:
            section = re.search(r"§(13\.\d+)", rule["annotations"]["runbook"])
            assert section is not None, rule["alert"]
            assert f"### {section.group(1)}" in runbook, rule["alert"]
            assert rule["alert"] in runbook


def test_the_dashboard_is_grafana_json_with_a_query_per_panel() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "seleto-agent.json").read_text())
    assert dashboard["uid"] == "seleto-agent"
    panels = dashboard["panels"]
    assert len(panels) >= 8
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
    titles = " ".join(p["title"] for p in panels)
    for needed in ("Funnel", "Backlog", "Webhook", "PipeRun", "Chatwoot", "WhatsApp"):
        assert needed in titles
