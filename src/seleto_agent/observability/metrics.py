"""Prometheus metrics (served at /metrics). Labels never carry phones or message ids."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

WEBHOOKS = Counter(
    "seleto_webhooks_total", "Webhook requests by provider and outcome", ["provider", "outcome"]
)
TURNS = Counter("seleto_turns_total", "Agent turns by outcome", ["outcome"])
TURN_SECONDS = Histogram(
    "seleto_turn_seconds",
    "Time from claiming a turn to its reply being sent",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
EVENTS_DEAD = Counter("seleto_events_dead_total", "Inbound events parked as dead")
OUTBOUND = Counter(
    "seleto_outbound_total", "Outbound sends by provider and outcome", ["provider", "outcome"]
)
AGENT_SECONDS = Histogram(
    "seleto_agent_run_seconds",
    "Duration of one agent run",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 45),
)
TOOL_CALLS = Counter("seleto_agent_tool_calls_total", "Agent tool calls by tool", ["tool"])
GUARDRAIL_BLOCKS = Counter(
    "seleto_guardrail_blocks_total", "Agent replies blocked by an output check", ["kind"]
)
FIXED_REPLIES = Counter(
    "seleto_fixed_replies_total", "Replies sent from the fixed-replies file", ["key"]
)
