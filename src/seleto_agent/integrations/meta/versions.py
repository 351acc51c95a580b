"""Graph API versions and the day each stops working (Meta's changelog, 2026-11): a version
lives two years after its successor's release. The pinned one is warned about early."""

from __future__ import annotations

from datetime import date, timedelta

GRAPH_VERSION_EXPIRY: dict[str, date] = {
    "v22.0": date(2027, 5, 20),
    "v23.0": date(2027, 10, 8),
    "v24.0": date(2028, 2, 18),
    "v25.0": date(2028, 7, 29),
}
# Time to test and move to a newer version before the pinned one stops answering.
GRAPH_VERSION_WARNING = timedelta(days=180)


def graph_version_expiry(version: str) -> date | None:
    """None for a version without a known end (the newest ones)."""
    return GRAPH_VERSION_EXPIRY.get(version)


def expiring_soon(version: str, *, today: date) -> bool:
    expires = graph_version_expiry(version)
    return expires is not None and expires - today < GRAPH_VERSION_WARNING
