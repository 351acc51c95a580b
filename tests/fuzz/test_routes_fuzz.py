"""Property: no request to a public route gets a 5xx, and every 4xx has the error shape.

Every route of ours is taken from the app itself (a new route is fuzzed without editing this
file), plus AgentOS's landing routes; the AgentOS API proper sits behind OS_SECURITY_KEY and is
Agno's. Requests are drawn with and without the right tokens, with odd path segments, query
values, headers and bodies (bytes, JSON with NUL, lone surrogates, NaN and huge numbers, and
Z-API, Cloud API, Chatwoot and admin shapes; Cloud API bodies mostly signed right, so they get
past the signature). The worker is off: this is the HTTP edge only.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from seleto_agent.integrations.meta.signature import sign
from tests.conftest import ADMIN_TOKEN, WEBHOOK_TOKEN, Service
from tests.factories import message_status, received_text
from tests.meta_factories import (
    APP_SECRET,
    BSUID,
    LEAD,
    PHONE_NUMBER_ID,
    VERIFY_TOKEN,
    meta_settings,
)

OS_KEY = "fuzz-os-security-key"
CHATWOOT_TOKEN = "fuzz-chatwoot-token"
AGENTOS_LANDING = [("GET", "/"), ("GET", "/health"), ("GET", "/info")]
OUR_PATHS = ("/healthz", "/readyz", "/metrics")
OUR_PREFIXES = ("/webhooks/", "/admin/")
# Per database: ~5 s on a loaded 2-core machine.
EXAMPLES = 600

# Any code point, lone surrogates included, with the ones that broke us before made common:
# NUL (Postgres `text` refuses it), halves of an emoji, a right-to-left override.
awkward = st.sampled_from(["\x00", "\ud83d", "\ude00", "\udfff", "\u202e", "\U0001f600"])
texts = st.lists(st.characters(exclude_categories=()) | awkward, max_size=24).map("".join)
numbers = (
    st.integers()
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.floats(allow_nan=True, allow_infinity=True)
)
scalars = st.none() | st.booleans() | numbers | texts
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(texts, inner, max_size=4),
    max_leaves=16,
)
path_segments = (
    st.integers(min_value=-(10**25), max_value=10**25).map(str)
    | st.sampled_from(["0", "1", "9223372036854775807", "9223372036854775808", "lid:123", ""])
    | st.from_regex(r"\+?[0-9() .-]{0,20}", fullmatch=True)
    | texts
)


def zapi_shaped(overrides: dict[str, Any], kind: str) -> dict[str, Any]:
    base = message_status(ids=["3EB0AA"]) if kind == "status" else received_text()
    return {**base, **overrides}


zapi_bodies = st.builds(
    zapi_shaped,
    st.dictionaries(
        st.sampled_from(
            ["type", "phone", "messageId", "fromMe", "isGroup", "text", "senderName", "ids",
             "status", "audio", "image", "momment", "chatLid", "reaction", "notification"]
        ),
        json_values | st.fixed_dictionaries({"message": texts}),
        max_size=4,
    ),
    st.sampled_from(["received", "status"]),
)  # fmt: skip
lead_texts = st.builds(
    received_text,
    phone=st.sampled_from(["5544999999999", "65998849469@lid", "554499998888"]) | texts,
    text=texts,
    message_id=st.none() | texts,
    senderName=st.none() | texts,
)
# Cloud API envelopes: the documented keys with values of any shape, ids of every kind.
meta_senders = st.sampled_from([LEAD, LEAD[:4] + LEAD[5:], f"{LEAD}@lid"]) | texts
meta_bsuids = st.sampled_from([BSUID, "BR.ENT.42", "br.1"]) | texts
meta_messages = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["wamid.A", "wamid.B"]) | texts,
        "type": st.sampled_from(
            [
                "text",
                "audio",
                "interactive",
                "button",
                "system",
                "reaction",
                "unsupported",
                "image",
                "location",
                "contacts",
                "order",
            ]
        )
        | texts,
    },
    optional={
        "from": meta_senders,
        "from_user_id": meta_bsuids,
        "to": meta_senders,
        "to_user_id": meta_bsuids,
        "timestamp": st.from_regex(r"[0-9]{0,14}", fullmatch=True) | json_values,
        "text": st.fixed_dictionaries({"body": texts}) | json_values,
        "interactive": st.fixed_dictionaries(
            {
                "type": st.sampled_from(["button_reply", "list_reply"]) | texts,
                "button_reply": json_values,
                "list_reply": json_values,
            }
        ),
        "system": st.fixed_dictionaries(
            {"type": st.sampled_from(["user_changed_number", "user_changed_user_id"]) | texts},
            optional={"wa_id": meta_senders, "user_id": meta_bsuids},
        ),
        "button": json_values,
        "referral": json_values,
        "location": json_values,
        "contacts": json_values,
        "image": json_values,
    },
)
meta_statuses = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["wamid.A", "wamid.B"]) | texts,
        "status": st.sampled_from(["sent", "delivered", "read", "played", "failed"]) | texts,
    },
    optional={
        "recipient_id": meta_senders,
        "recipient_user_id": meta_bsuids,
        "errors": st.lists(st.fixed_dictionaries({"code": numbers})) | json_values,
        "biz_opaque_callback_data": json_values,
    },
)
meta_values = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"phone_number_id": st.sampled_from([PHONE_NUMBER_ID] * 4 + ["1"]) | json_values}
        )
    },
    optional={
        "contacts": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "wa_id": meta_senders,
                    "user_id": meta_bsuids,
                    "parent_user_id": meta_bsuids,
                    "profile": json_values,
                },
            )
        )
        | json_values,
        "messages": st.lists(meta_messages | json_values, max_size=3),
        "message_echoes": st.lists(meta_messages, max_size=2),
        "statuses": st.lists(meta_statuses | json_values, max_size=3),
        "errors": st.lists(st.fixed_dictionaries({"code": numbers})) | json_values,
    },
)
meta_bodies = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["whatsapp_business_account"] * 4 + ["page"]) | texts,
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": texts,
                    "changes": st.lists(
                        st.fixed_dictionaries(
                            {
                                "field": st.sampled_from(
                                    ["messages", "smb_message_echoes", "account_update"]
                                )
                                | texts,
                                "value": meta_values,
                            }
                        )
                        | json_values,
                        max_size=3,
                    ),
                }
            )
            | json_values,
            max_size=2,
        ),
    },
)
admin_bodies = st.fixed_dictionaries(
    {},
    optional={
        "ids": st.lists(numbers, max_size=5) | json_values,
        "status": st.sampled_from(["dead", "failed", "done", "pending"]) | texts,
        "kind": texts,
        "dry_run": json_values,
        "until": st.sampled_from(["2030-01-01T00:00:00+00:00", "2030-01-01T00:00:00"]) | texts,
    },
)
# Ids and timestamps range over everything JSON can say (huge, negative, NaN): Chatwoot's parser
# turns what no bigint or clock holds into "no id" or "no time", never a 500.
chatwoot_ids = st.integers(min_value=1, max_value=10**6) | numbers
chatwoot_bodies = st.fixed_dictionaries(
    {"event": st.sampled_from(["message_created", "conversation_status_changed"]) | texts},
    optional={
        "id": chatwoot_ids,
        "created_at": numbers | texts,
        "message_type": st.sampled_from(["incoming", "outgoing", 1, 0]) | texts,
        "content": texts,
        "private": json_values,
        "account": st.fixed_dictionaries({"id": chatwoot_ids}),
        "inbox": st.fixed_dictionaries({"id": chatwoot_ids}),
        "conversation": st.fixed_dictionaries(
            {"id": chatwoot_ids}, optional={"status": texts, "inbox_id": chatwoot_ids}
        ),
        "sender": st.dictionaries(st.sampled_from(["id", "type", "phone_number"]), texts),
        "content_attributes": json_values,
    },
)


def encoded(value: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \\udXXX escapes and NaN as NaN: as a client might.
    return json.dumps(value, ensure_ascii=True).encode()


raw_bodies = st.binary(max_size=64) | json_values.map(encoded)
# Each route mostly gets bodies of its own shape: deep enough to reach the parsers and the
# database, with some of any other kind.
BODIES = {
    "/webhooks/zapi/": st.one_of(lead_texts, lead_texts, zapi_bodies, raw_bodies).map(
        lambda b: b if isinstance(b, bytes) else encoded(b)
    ),
    "/webhooks/chatwoot/": st.one_of(chatwoot_bodies.map(encoded), raw_bodies),
    "/webhooks/meta": st.one_of(meta_bodies.map(encoded), meta_bodies.map(encoded), raw_bodies),
    "/admin/": st.one_of(st.none(), admin_bodies.map(encoded), raw_bodies),
}


def bodies_for(template: str) -> st.SearchStrategy[bytes | None]:
    for prefix, strategy in BODIES.items():
        if template.startswith(prefix):
            return strategy
    return st.none() | raw_bodies


auth_headers = st.sampled_from(
    [
        {},
        *[{"authorization": f"Bearer {ADMIN_TOKEN}"}] * 4,
        {"authorization": f"Bearer {OS_KEY}"},
        {"authorization": "Bearer wrong"},
        {"authorization": "Basic eDp5"},
    ]
)
content_types = st.sampled_from(
    [{}, {"content-type": "application/json"}, {"content-type": "text/plain"}]
)
request_ids = st.none() | st.binary(max_size=80).filter(lambda b: b"\r" not in b and b"\n" not in b)
queries = st.dictionaries(
    st.sampled_from(
        [
            "status",
            "limit",
            "cursor",
            "include_payload",
            "kind",
            "hub.mode",
            "hub.verify_token",
            "hub.challenge",
        ]
    )
    | texts,
    path_segments | texts | st.sampled_from(["subscribe", VERIFY_TOKEN]),
    max_size=3,
)


def public_routes(app: Any) -> list[tuple[str, str]]:
    """Our routes as the app's own OpenAPI document lists them (a new one is fuzzed at once),
    then AgentOS's landing routes."""
    ours = [
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path in OUR_PATHS or path.startswith(OUR_PREFIXES)
        for method in operations
    ]
    return sorted(ours) + AGENTOS_LANDING


def fill_path(template: str, data: st.DataObject) -> str:
    def segment(match: re.Match[str]) -> str:
        name = match.group(1)
        if name == "token":
            right = CHATWOOT_TOKEN if "chatwoot" in template else WEBHOOK_TOKEN
            # Mostly the right token: past the check is where the bodies are read. (A free-text
            # branch would take most draws: Hypothesis favours the choices it has not seen.)
            wrong = ["wrong", "", right.upper(), right + " ", "\ud83d"]
            value = data.draw(st.sampled_from([right] * 10 + wrong))
        else:
            value = data.draw(path_segments)
        return escaped(value)

    return re.sub(r"\{(\w+)\}", segment, template)


def escaped(value: str) -> str:
    """Percent-escaped as raw bytes: a lone surrogate becomes bytes that are not UTF-8, as a
    hostile client can send them."""
    return quote(value.encode("utf-8", "surrogatepass"), safe="")


@pytest.fixture
async def fuzzed(service_factory: Any) -> Service:
    service: Service = await service_factory(
        worker_embedded=False,
        os_security_key=OS_KEY,
        chatwoot_webhook_token=CHATWOOT_TOKEN,
        metrics_public=False,
        **meta_settings(),
    )
    return service


async def test_the_fuzz_covers_every_route_family(fuzzed: Service) -> None:
    paths = {path for _method, path in public_routes(fuzzed.app)}
    for expected in ("/webhooks/zapi/{token}", "/webhooks/chatwoot/{token}", "/webhooks/meta",
                     "/admin/events",
                     "/admin/jobs/replay", "/admin/conversations/{phone}/pause", "/metrics",
                     "/readyz", "/healthz", "/info"):  # fmt: skip
        assert expected in paths


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    # No shrinking: through a live app it takes minutes; the failing draws are printed as found.
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_no_request_gets_a_5xx_and_every_4xx_has_the_error_shape(
    fuzzed: Service, data: st.DataObject
) -> None:
    routes = public_routes(fuzzed.app)
    # The webhooks take the most untrusted input: twice the share of any other route.
    method, template = data.draw(
        st.sampled_from(routes + [r for r in routes if r[1].startswith("/webhooks/")])
    )
    path = fill_path(template, data)
    headers = {**data.draw(auth_headers), **data.draw(content_types)}
    request_id = data.draw(request_ids)
    raw_headers = [(k.encode(), v.encode()) for k, v in headers.items()]
    if request_id is not None:
        raw_headers.append((b"x-request-id", request_id))
    body = data.draw(bodies_for(template)) if method == "POST" else None
    if template == "/webhooks/meta" and method == "POST":
        signature = sign(APP_SECRET.encode(), body or b"")
        # Mostly signed right: past the signature is where the bodies are read.
        raw_headers.append(
            (
                b"x-hub-signature-256",
                data.draw(st.sampled_from([signature] * 8 + ["", "x"])).encode(),
            )
        )
    query = "&".join(f"{escaped(k)}={escaped(v)}" for k, v in data.draw(queries).items())
    response = await fuzzed.client.request(
        method, f"{path}?{query}" if query else path, headers=raw_headers, content=body
    )
    # `pytest --hypothesis-show-statistics` shows how the examples spread over routes.
    event(f"{method} {template} -> {response.status_code}")
    where = f"{method} {path} -> {response.status_code}: {response.text[:200]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        error = response.json()
        assert set(error) == {"error", "detail"}, where
        assert isinstance(error["error"], str), where
        assert isinstance(error["detail"], str), where
