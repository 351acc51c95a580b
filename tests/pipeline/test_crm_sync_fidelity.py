"""PipeRun as it really is (vendors.md #5, #9, #11, #13, #16; redteam L3): the sync against the
simulator's quirks, end to end on both databases."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from seleto_agent.observability.logging import configure_logging
from tests.conftest import Sandbox, Service, wait_for
from tests.pipeline.test_crm_sync import (
    PHONE,
    crm_jobs,
    crm_settings,
    crm_settled,
    qualify,
    records,
)


@contextmanager
def json_logs(capfd: pytest.CaptureFixture[str]) -> Iterator[list[dict[str, Any]]]:
    """The JSON log lines written inside the block (filled when it ends)."""
    lines: list[dict[str, Any]] = []
    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    capfd.readouterr()
    try:
        yield lines
        output = capfd.readouterr().out
    finally:
        logging.getLogger().handlers = []
    lines += [json.loads(line) for line in output.splitlines() if line.startswith("{")]


# --- persons: phones and e-mails as the schema says (vendors.md #5) -----------------------------


async def test_a_person_that_came_back_without_the_phone_is_reported(
    service_factory: Any, sandbox: Sandbox, capfd: pytest.CaptureFixture[str]
) -> None:
    # The other reading of the GAP: PipeRun keeps only the example's objects and drops strings.
    sandbox.piperun_faults(person_contact_items="objects")
    with json_logs(capfd) as lines:
        service: Service = await service_factory(**crm_settings(sandbox))
        await qualify(service, sandbox)
        await wait_for(lambda: crm_settled(service))
    assert all(job["status"] == "done" for job in await crm_jobs(service))
    [person] = records(sandbox)["persons"]
    assert person["contact_phones"] == []
    [warning] = [line for line in lines if line["event"] == "crm.person_phone_not_stored"]
    assert warning["person_id"] == person["id"]
    assert warning["level"] == "warning"
    assert PHONE[-8:] not in json.dumps(lines)
