"""The funnel counters on /metrics follow one lead through its stages, once each: new, qualified
(warm or hot), hot, handed off (a hot lead is handed to the SDR team) and synced to PipeRun."""

from __future__ import annotations

from typing import Any

from prometheus_client import REGISTRY

from tests.conftest import Sandbox, Service, wait_for
from tests.pipeline.test_crm_sync import crm_settings, crm_settled, qualify

STAGES = ("new", "qualified", "hot", "handed_off", "crm_synced")


def funnel() -> dict[str, float]:
    return {
        stage: REGISTRY.get_sample_value("seleto_funnel_total", {"stage": stage}) or 0.0
        for stage in STAGES
    }


async def test_a_hot_lead_moves_each_funnel_counter_once(
    service_factory: Any, sandbox: Sandbox
) -> None:
    service: Service = await service_factory(**crm_settings(sandbox))
    before = funnel()
    await qualify(service, sandbox)
    await wait_for(lambda: crm_settled(service))
    after = funnel()
    assert {stage: after[stage] - before[stage] for stage in STAGES} == dict.fromkeys(STAGES, 1.0)
