"""The pinned Graph version is logged at start-up, with a warning once it is within 180 days
of the day Meta stops answering it."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from structlog.testing import capture_logs

from seleto_agent.integrations.media.download import MediaDownloader
from seleto_agent.integrations.media.policy import MediaPolicy
from seleto_agent.integrations.meta.versions import expiring_soon
from seleto_agent.runtime import build_meta
from seleto_agent.settings import Settings


def meta_settings(version: str) -> Settings:
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        whatsapp_provider="meta",
        meta_access_token="token",
        meta_phone_number_id="106540352242922",
        meta_graph_version=version,
    )


@pytest.mark.parametrize(
    ("version", "today", "warned"),
    [
        ("v25.0", date(2026, 12, 3), False),
        ("v25.0", date(2028, 2, 1), True),
        ("v22.0", date(2026, 12, 3), True),
        ("v26.0", date(2030, 1, 1), False),
    ],
)
def test_a_version_within_180_days_of_its_end_is_expiring(
    version: str, today: date, warned: bool
) -> None:
    assert expiring_soon(version, today=today) is warned


async def test_start_up_logs_the_version_and_warns_when_it_is_expiring() -> None:
    async with httpx.AsyncClient() as http:
        downloader = MediaDownloader(
            http=http,
            policy=MediaPolicy.from_setting("", allow_http=False),
            max_bytes=1,
            timeout_seconds=1,
        )
        with capture_logs() as logs:
            # v22.0 stops on 2027-05-20: expiring from today's date on.
            client = build_meta(meta_settings("v22.0"), http, downloader)
    assert client is not None
    events = {entry["event"]: entry for entry in logs}
    assert events["meta.graph_version"]["version"] == "v22.0"
    assert events["meta.graph_version_expiring"]["usable_until"] == "2027-05-20"


def test_an_unpinned_or_malformed_version_is_refused() -> None:
    with pytest.raises(ValueError, match="meta_graph_version"):
        meta_settings("latest")
