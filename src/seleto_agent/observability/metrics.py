"""Prometheus metrics (served at /metrics). Labels never carry phones or message ids."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

WEBHOOKS = Counter(
    "seleto_webhooks_total", "Webhook requests by provider and outcome", ["provider", "outcome"]
)
# A sender never seen before opened a conversation (and is answered: that is the product). A burst
# of these is what forged callbacks look like (DECISIONS C26): alert on the hourly increase.
FIRST_CONTACTS = Counter(
    "seleto_first_contacts_total", "Conversations opened by a sender never seen before"
)
# Two conversations found to be one person were merged into the older one.
IDENTITY_MERGES = Counter("seleto_identity_merges_total", "Conversations merged into another")
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
# Requests answered 429 by the per-address limit (api/rate_limit.py); the address is not a label.
RATE_LIMITED = Counter("seleto_rate_limited_total", "Requests refused by the per-IP rate limit")
FIXED_REPLIES = Counter(
    "seleto_fixed_replies_total", "Replies sent from the fixed-replies file", ["key"]
)
OUTBOX_JOBS = Counter(
    "seleto_outbox_jobs_total", "Outbox job attempts by kind and outcome", ["kind", "outcome"]
)
# Every HTTP request sent to PipeRun (in-call retries included): calls per synced lead.
PIPERUN_CALLS = Counter(
    "seleto_piperun_calls_total",
    "HTTP requests to PipeRun by method, resource and outcome",
    ["method", "resource", "outcome"],
)
PIPERUN_CIRCUIT_OPEN = Gauge(
    "seleto_piperun_circuit_open",
    "1 from the moment the PipeRun circuit opens until a call succeeds again, else 0",
)
# Every HTTP request sent to Chatwoot (in-call retries included).
CHATWOOT_CALLS = Counter(
    "seleto_chatwoot_calls_total",
    "HTTP requests to Chatwoot by method, resource and outcome",
    ["method", "resource", "outcome"],
)
# Sends whose outcome was unknown (the provider may have had the message), by what became of
# them: `unknown` (a send ended so), `confirmed_by_callback`, `resent` (after the grace),
# `abandoned` (a second ambiguous outcome: left to ops), `stale_sending` (the sender died mid-call).
OUTBOUND_AMBIGUOUS = Counter(
    "seleto_outbound_ambiguous_total",
    "Outbound sends whose outcome was unknown, by provider and outcome",
    ["provider", "outcome"],
)

# --- operations (deploy/prometheus/alerts.yml) --------------------------------------------------

HTTP_SECONDS = Histogram(
    "seleto_http_request_seconds",
    "Time to answer an HTTP request, by route template and status",
    ["route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
LAST_INBOUND = Gauge(
    "seleto_last_inbound_timestamp_seconds",
    "Unix time of the latest lead message this process accepted (max() across processes)",
)
BACKLOG = Gauge(
    "seleto_backlog",
    "Work in the database by queue and state, read by the worker every few seconds",
    ["queue", "state"],
)
FUNNEL = Counter("seleto_funnel_total", "Leads reaching each stage of the funnel", ["stage"])
WEBHOOKS_SHED = Counter(
    "seleto_webhooks_shed_total", "Webhooks answered 503 because too many were in flight"
)
DATABASE_UNAVAILABLE = Counter(
    "seleto_database_unavailable_total",
    "Requests answered 503 because the database could not be reached or had no free connection",
)
