"""Chatwoot simulator: API semantics (contracts/chatwoot.md §4, §6) and webhook delivery (§3)."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest

from seleto_agent.integrations.chatwoot.signature import SignatureCheck, verify_signature
from seleto_agent.integrations.chatwoot.webhook import parse_event
from tests.sandbox.sandbox_helpers import CONFIG, Receiver

BASE = f"/api/v1/accounts/{CONFIG.chatwoot_account_id}"
USER = {"api-access-token": CONFIG.chatwoot_user_token}
BOT = {"api-access-token": CONFIG.chatwoot_bot_token}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/_sandbox/state")
    assert response.status_code == 200
    section: dict[str, Any] = response.json()["chatwoot"]
    return section


async def _contact(
    client: httpx.AsyncClient, phone: str = "+5511987654321", name: str = "Ana"
) -> dict[str, Any]:
    response = await client.post(
        f"{BASE}/contacts",
        json={
            "inbox_id": CONFIG.chatwoot_inbox_id,
            "name": name,
            "phone_number": phone,
            "identifier": phone.lstrip("+"),
        },
        headers=USER,
    )
    assert response.status_code == 200, response.text
    payload: dict[str, Any] = response.json()["payload"]
    return payload


async def _conversation(client: httpx.AsyncClient, phone: str = "+5511987654321") -> int:
    created = await _contact(client, phone=phone)
    response = await client.post(
        f"{BASE}/conversations",
        json={
            "source_id": created["contact_inbox"]["source_id"],
            "inbox_id": CONFIG.chatwoot_inbox_id,
            "contact_id": created["contact"]["id"],
        },
        headers=USER,
    )
    assert response.status_code == 200, response.text
    display_id: int = response.json()["id"]
    return display_id


async def _message(
    client: httpx.AsyncClient,
    conversation_id: int,
    content: str = "Olá!",
    headers: dict[str, str] = USER,
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        f"{BASE}/conversations/{conversation_id}/messages",
        json={"content": content, "message_type": "outgoing", **extra},
        headers=headers,
    )


async def _wire_inbox(client: httpx.AsyncClient, receiver: Receiver, **body: Any) -> None:
    response = await client.post(
        "/_sandbox/chatwoot/inbox_webhook", json={"url": receiver.url("chatwoot"), **body}
    )
    assert response.status_code == 200


async def _faults(client: httpx.AsyncClient, **faults: Any) -> None:
    response = await client.post("/_sandbox/chatwoot/faults", json=faults)
    assert response.status_code == 200, response.text


def _events(receiver: Receiver, event: str | None = None) -> list[dict[str, Any]]:
    return [
        post
        for post in receiver.posts
        if post["name"] == "chatwoot" and (event is None or post["body"]["event"] == event)
    ]


# --- API ---------------------------------------------------------------------------------------


async def test_token_is_required_and_checked(client: httpx.AsyncClient) -> None:
    missing = await client.get(f"{BASE}/contacts/search", params={"q": "Ana"})
    wrong = await client.get(
        f"{BASE}/contacts/search", params={"q": "Ana"}, headers={"api-access-token": "nope"}
    )
    other_account = await client.get(
        "/api/v1/accounts/99/contacts/search", params={"q": "Ana"}, headers=USER
    )
    assert missing.status_code == 401
    assert missing.json() == {"error": "You need to sign in or sign up before continuing."}
    assert wrong.status_code == 401
    assert other_account.status_code == 404
    requests = (await _state(client))["requests"]
    assert [(r["route"], r["status"], r["token"]) for r in requests] == [
        ("GET /contacts/search", 401, None),
        ("GET /contacts/search", 401, None),
        ("GET /contacts/search", 404, "user"),
    ]


async def test_bot_token_cannot_manage_contacts_but_can_post_messages(
    client: httpx.AsyncClient,
) -> None:
    refused = await client.post(
        f"{BASE}/contacts", json={"inbox_id": 1, "name": "Ana"}, headers=BOT
    )
    assert refused.status_code == 401
    conversation_id = await _conversation(client)
    posted = await _message(client, conversation_id, headers=BOT)
    assert posted.status_code == 200
    assert posted.json()["sender"]["type"] == "agent_bot"


async def test_create_contact_answers_contact_and_contact_inbox(client: httpx.AsyncClient) -> None:
    payload = await _contact(client)
    contact, link = payload["contact"], payload["contact_inbox"]
    assert contact["phone_number"] == "+5511987654321"
    assert contact["identifier"] == "5511987654321"
    assert UUID.fullmatch(link["source_id"])
    assert link["inbox"]["id"] == CONFIG.chatwoot_inbox_id
    assert contact["contact_inboxes"] == [
        {"source_id": link["source_id"], "inbox": {**link["inbox"]}}
    ]
    [stored] = (await _state(client))["contacts"]
    assert stored["id"] == contact["id"]
    assert stored["contact_inboxes"] == [
        {"inbox_id": CONFIG.chatwoot_inbox_id, "source_id": link["source_id"]}
    ]


async def test_contact_validation_mirrors_chatwoot(client: httpx.AsyncClient) -> None:
    await _contact(client)
    duplicate = await client.post(
        f"{BASE}/contacts",
        json={"inbox_id": 1, "name": "Ana 2", "identifier": "5511987654321"},
        headers=USER,
    )
    no_plus = await client.post(
        f"{BASE}/contacts",
        json={"inbox_id": 1, "name": "Bia", "phone_number": "5511900000000"},
        headers=USER,
    )
    other_inbox = await client.post(
        f"{BASE}/contacts", json={"inbox_id": 99, "name": "Caio"}, headers=USER
    )
    assert duplicate.status_code == 422
    assert duplicate.json() == {
        "message": "Identifier has already been taken",
        "attributes": ["identifier"],
    }
    assert no_plus.status_code == 422
    assert no_plus.json()["attributes"] == ["phone_number"]
    assert other_inbox.status_code == 404


async def test_search_answers_pages_of_15_with_meta(client: httpx.AsyncClient) -> None:
    for index in range(17):
        await _contact(client, phone=f"+55119000000{index:02d}", name=f"Lead {index}")
    first = await client.get(f"{BASE}/contacts/search", params={"q": "Lead"}, headers=USER)
    second = await client.get(
        f"{BASE}/contacts/search", params={"q": "Lead", "page": 2}, headers=USER
    )
    assert isinstance(first.json()["payload"], list)
    # `count` is this page's size, not a total (ContactsController#fetch_contacts_with_has_more).
    assert first.json()["meta"] == {"count": 15, "current_page": 1, "has_more": True}
    assert len(first.json()["payload"]) == 15
    assert second.json()["meta"] == {"count": 2, "current_page": 2, "has_more": False}
    names = [c["name"] for c in first.json()["payload"] + second.json()["payload"]]
    assert names == [f"Lead {index}" for index in range(17)]
    # The phone matches with or without its `+`.
    for query in ("+5511900000007", "5511900000007"):
        found = await client.get(f"{BASE}/contacts/search", params={"q": query}, headers=USER)
        assert [c["name"] for c in found.json()["payload"]] == ["Lead 7"]
    blank = await client.get(f"{BASE}/contacts/search", params={"q": ""}, headers=USER)
    assert blank.status_code == 422


async def test_display_ids_are_distinct_from_row_ids(client: httpx.AsyncClient) -> None:
    first = await _conversation(client, phone="+5511911111111")
    second = await _conversation(client, phone="+5511922222222")
    assert (first, second) == (1, 2)
    conversations = (await _state(client))["conversations"]
    internal = [c["internal_id"] for c in conversations]
    assert all(row_id >= 1000 for row_id in internal)
    shown = await client.get(f"{BASE}/conversations/{first}", headers=USER)
    assert shown.status_code == 200
    assert shown.json()["id"] == first
    by_row_id = await client.get(f"{BASE}/conversations/{internal[0]}", headers=USER)
    assert by_row_id.status_code == 404
    assert by_row_id.json() == {"error": "Resource could not be found"}
    contact_id = conversations[0]["contact_id"]
    listed = await client.get(f"{BASE}/contacts/{contact_id}/conversations", headers=USER)
    assert [c["id"] for c in listed.json()["payload"]] == [first]


async def test_unknown_records_and_missing_content(client: httpx.AsyncClient) -> None:
    unknown_source = await client.post(
        f"{BASE}/conversations", json={"source_id": "nope", "inbox_id": 1}, headers=USER
    )
    assert unknown_source.status_code == 404
    assert (await _message(client, 77)).status_code == 404
    assert (await client.put(f"{BASE}/contacts/4242", json={}, headers=USER)).status_code == 404
    conversation_id = await _conversation(client)
    empty = await _message(client, conversation_id, content="")
    assert empty.status_code == 422
    wrong_type = await _message(client, conversation_id, message_type="activity")
    assert wrong_type.status_code == 422


async def test_message_answer_is_push_data_and_listing_pages(client: httpx.AsyncClient) -> None:
    conversation_id = await _conversation(client)
    posted = await _message(client, conversation_id, content_attributes={"stamp": "s-1"})
    body = posted.json()
    assert body["message_type"] == 1  # push data: integers, unlike webhooks
    assert body["conversation_id"] == conversation_id
    assert body["content_attributes"] == {"stamp": "s-1"}
    assert isinstance(body["created_at"], int)
    for index in range(22):
        await _message(client, conversation_id, content=f"m{index}")
    latest = await client.get(f"{BASE}/conversations/{conversation_id}/messages", headers=USER)
    page = latest.json()["payload"]
    assert [m["content"] for m in page] == [f"m{index}" for index in range(2, 22)]
    older = await client.get(
        f"{BASE}/conversations/{conversation_id}/messages",
        params={"before": page[0]["id"]},
        headers=USER,
    )
    assert [m["content"] for m in older.json()["payload"]] == ["Olá!", "m0", "m1"]
    assert latest.json()["meta"]["contact"]["phone_number"] == "+5511987654321"


async def test_labels_overwrite(client: httpx.AsyncClient) -> None:
    conversation_id = await _conversation(client)
    url = f"{BASE}/conversations/{conversation_id}/labels"
    first = await client.post(url, json={"labels": ["lead-quente", "atendimento"]}, headers=USER)
    second = await client.post(url, json={"labels": ["atendimento"]}, headers=USER)
    assert first.json() == {"payload": ["lead-quente", "atendimento"]}
    assert second.json() == {"payload": ["atendimento"]}
    [conversation] = (await _state(client))["conversations"]
    assert conversation["labels"] == ["atendimento"]


async def test_assignee_wins_over_team(client: httpx.AsyncClient) -> None:
    conversation_id = await _conversation(client)
    url = f"{BASE}/conversations/{conversation_id}/assignments"
    both = await client.post(url, json={"assignee_id": 5, "team_id": 9}, headers=USER)
    assert both.json()["id"] == 5
    team_only = await client.post(url, json={"team_id": 9}, headers=USER)
    assert team_only.json()["id"] == 9
    [conversation] = (await _state(client))["conversations"]
    assert (conversation["assignee_id"], conversation["team_id"]) == (5, 9)


async def test_toggle_status_answer_and_event(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    response = await client.post(
        f"{BASE}/conversations/{conversation_id}/toggle_status",
        json={"status": "pending"},
        headers=USER,
    )
    assert response.json() == {
        "meta": {},
        "payload": {"success": True, "current_status": "pending", "conversation_id": 1},
    }
    [post] = _events(receiver, "conversation_status_changed")
    assert post["body"]["id"] == conversation_id
    assert post["body"]["status"] == "pending"
    assert post["body"]["changed_attributes"] == [
        {"status": {"current_value": "pending", "previous_value": "open"}}
    ]
    invalid = await client.post(
        f"{BASE}/conversations/{conversation_id}/toggle_status",
        json={"status": "closed"},
        headers=USER,
    )
    assert invalid.status_code == 422


# --- webhooks -----------------------------------------------------------------------------------


async def test_message_created_is_faithful_and_signed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    posted = await _message(client, conversation_id, content_attributes={"stamp": "s-1"})
    [post] = _events(receiver, "message_created")
    body, headers = post["body"], post["headers"]
    assert body["id"] == posted.json()["id"]
    assert body["message_type"] == "outgoing"
    assert body["private"] is False
    assert body["content"] == "Olá!"
    assert body["content_type"] == "text"
    assert body["content_attributes"] == {"stamp": "s-1"}
    assert body["account"] == {"id": CONFIG.chatwoot_account_id, "name": "Seleto Sandbox"}
    assert body["inbox"]["id"] == CONFIG.chatwoot_inbox_id
    assert body["conversation"]["id"] == conversation_id
    assert body["conversation"]["meta"]["sender"]["phone_number"] == "+5511987654321"
    assert body["conversation"]["messages"][0]["message_type"] == 1
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["created_at"])

    assert headers["content-type"] == "application/json"
    assert headers["accept"] == "application/json"
    assert UUID.fullmatch(headers["x-chatwoot-delivery"])
    [delivery] = [
        d for d in (await _state(client))["deliveries"] if d["event"] == "message_created"
    ]
    raw = delivery["body"].encode()
    assert json.loads(raw) == body
    check = verify_signature(
        secret=CONFIG.chatwoot_webhook_secret.encode(),
        timestamp=headers["x-chatwoot-timestamp"],
        body=raw,
        signature=headers["x-chatwoot-signature"],
        now=time.time(),
        tolerance_seconds=300,
    )
    assert check is SignatureCheck.OK
    assert parse_event(raw).conversation_id == conversation_id


async def test_message_posted_with_the_user_token_echoes_as_a_user(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    await _message(client, conversation_id, content="from the service")
    await client.post(
        "/_sandbox/chatwoot/agent_reply",
        json={"conversation_id": conversation_id, "content": "from a person"},
    )
    await _message(client, conversation_id, content="from the bot", headers=BOT)
    senders = [
        (p["body"]["content"], p["body"]["sender"]["type"], p["body"]["sender"]["id"])
        for p in _events(receiver, "message_created")
    ]
    # Our own echo and a person's reply are indistinguishable by sender (contracts §5).
    assert senders == [
        ("from the service", "user", CONFIG.chatwoot_user_id),
        ("from a person", "user", CONFIG.chatwoot_user_id),
        ("from the bot", "agent_bot", CONFIG.chatwoot_bot_id),
    ]


async def test_contact_sender_has_no_type_unless_switched(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    await _message(client, conversation_id, content="oi", message_type="incoming")
    await _faults(client, contact_sender_type=True)
    await _message(client, conversation_id, content="oi de novo", message_type="incoming")
    first, second = (p["body"] for p in _events(receiver, "message_created"))
    assert first["message_type"] == "incoming"
    assert "type" not in first["sender"]
    assert first["sender"]["phone_number"] == "+5511987654321"
    assert second["sender"]["type"] == "contact"


async def test_incoming_message_reopens_a_resolved_conversation(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    resolved = await client.post(
        "/_sandbox/chatwoot/resolve", json={"conversation_id": conversation_id}
    )
    assert resolved.json()["current_status"] == "resolved"
    await _message(client, conversation_id, content="voltei", message_type="incoming")
    changes = [
        p["body"]["changed_attributes"][0]["status"]
        for p in _events(receiver, "conversation_status_changed")
    ]
    assert changes == [
        {"current_value": "resolved", "previous_value": "open"},
        {"current_value": "open", "previous_value": "resolved"},
    ]


async def test_private_note_is_delivered_as_private(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    note = await client.post(
        "/_sandbox/chatwoot/private_note",
        json={"conversation_id": conversation_id, "content": "/bot on"},
    )
    assert note.status_code == 200
    [post] = _events(receiver, "message_created")
    assert (post["body"]["private"], post["body"]["content"]) == (True, "/bot on")
    messages = (await _state(client))["conversations"][0]["messages"]
    assert messages[-1]["private"] is True
    assert messages[-1]["sender_type"] == "user"


async def test_account_webhook_gets_subscribed_events_with_its_own_secret(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await client.post(
        f"{BASE}/webhooks",
        json={"url": receiver.url("chatwoot"), "subscriptions": ["contact_created"]},
        headers=USER,
    )
    webhook = created.json()["payload"]["webhook"]
    assert webhook["subscriptions"] == ["contact_created"]
    await _conversation(client)
    [post] = _events(receiver)
    assert post["body"]["event"] == "contact_created"
    assert post["body"]["phone_number"] == "+5511987654321"
    [delivery] = (await _state(client))["deliveries"]
    assert delivery["target"] == f"account_webhook:{webhook['id']}"
    check = verify_signature(
        secret=webhook["secret"].encode(),
        timestamp=post["headers"]["x-chatwoot-timestamp"],
        body=delivery["body"].encode(),
        signature=post["headers"]["x-chatwoot-signature"],
        now=time.time(),
        tolerance_seconds=300,
    )
    assert check is SignatureCheck.OK
    bad = await client.post(
        f"{BASE}/webhooks",
        json={"url": receiver.url("x"), "subscriptions": ["everything"]},
        headers=USER,
    )
    assert bad.status_code == 422


async def test_duplicate_delivery_keeps_the_delivery_id(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    await _faults(client, duplicate_delivery=True)
    await _message(client, conversation_id)
    await client.post("/_sandbox/chatwoot/flush")
    first, second = _events(receiver, "message_created")
    assert first["body"] == second["body"]
    assert first["headers"]["x-chatwoot-delivery"] == second["headers"]["x-chatwoot-delivery"]
    deliveries = [
        d for d in (await _state(client))["deliveries"] if d["event"] == "message_created"
    ]
    assert [d["attempt"] for d in deliveries] == [1, 2]


async def test_echo_beats_the_api_answer_by_default(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    posted = await _message(client, conversation_id)
    # The receiver already holds the echo carrying the id the answer has only just revealed.
    assert [p["body"]["id"] for p in _events(receiver, "message_created")] == [posted.json()["id"]]

    await _faults(client, emit_before_response=False, delay_seconds=0.3)
    await _message(client, conversation_id, content="later")
    assert len(_events(receiver, "message_created")) == 1
    await client.post("/_sandbox/chatwoot/flush")
    assert len(_events(receiver, "message_created")) == 2


async def test_unsigned_and_wrong_secret_modes(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    await _faults(client, version="4.12.1")
    await _message(client, conversation_id, content="unsigned")
    await _faults(client, version="4.17.1", wrong_secret=True)
    await _message(client, conversation_id, content="wrong secret")
    unsigned, wrong = _events(receiver, "message_created")
    assert "x-chatwoot-signature" not in unsigned["headers"]
    assert "x-chatwoot-timestamp" not in unsigned["headers"]
    assert "x-chatwoot-delivery" in unsigned["headers"]
    raw = [d for d in (await _state(client))["deliveries"] if d["event"] == "message_created"][1]
    check = verify_signature(
        secret=CONFIG.chatwoot_webhook_secret.encode(),
        timestamp=wrong["headers"]["x-chatwoot-timestamp"],
        body=raw["body"].encode(),
        signature=wrong["headers"]["x-chatwoot-signature"],
        now=time.time(),
        tolerance_seconds=300,
    )
    assert check is SignatureCheck.MISMATCH


async def test_inbox_without_secret_sends_unsigned(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver, secret="")
    await _message(client, conversation_id)
    [post] = _events(receiver, "message_created")
    assert "x-chatwoot-signature" not in post["headers"]


async def test_failing_receiver_is_recorded_once_without_retry(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await client.post("/_sandbox/chatwoot/inbox_webhook", json={"url": receiver.url("failing")})
    await _message(client, conversation_id)
    deliveries = (await _state(client))["deliveries"]
    assert [(d["event"], d["status_code"]) for d in deliveries] == [("message_created", 500)]


# --- faults -------------------------------------------------------------------------------------

MESSAGES_ROUTE = "POST /conversations/{conversation_id}/messages"


async def test_fault_before_the_write_creates_nothing(client: httpx.AsyncClient) -> None:
    conversation_id = await _conversation(client)
    await _faults(client, queues={MESSAGES_ROUTE: [{"status": 500}]})
    failed = await _message(client, conversation_id)
    assert failed.status_code == 500
    assert (await _message(client, conversation_id)).status_code == 200
    [conversation] = (await _state(client))["conversations"]
    assert len(conversation["messages"]) == 1


async def test_after_commit_fault_writes_then_fails(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    await _faults(client, queues={MESSAGES_ROUTE: [{"status": 502, "after_commit": True}]})
    failed = await _message(client, conversation_id, content_attributes={"stamp": "s-9"})
    assert failed.status_code == 502
    [conversation] = (await _state(client))["conversations"]
    assert [m["content_attributes"] for m in conversation["messages"]] == [{"stamp": "s-9"}]
    assert len(_events(receiver, "message_created")) == 1
    assert (await _state(client))["requests"][-1]["committed"] is True


async def test_rate_limit_fault_has_retry_after_and_concrete_paths_work(
    client: httpx.AsyncClient,
) -> None:
    conversation_id = await _conversation(client)
    await _faults(
        client,
        queues={f"GET /conversations/{conversation_id}": [{"status": 429, "retry_after": 2}]},
    )
    limited = await client.get(f"{BASE}/conversations/{conversation_id}", headers=USER)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"
    assert (await client.get(f"{BASE}/conversations/{conversation_id}", headers=USER)).is_success


async def test_unknown_fault_route_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/_sandbox/chatwoot/faults", json={"queues": {"POST /nowhere": [{"status": 500}]}}
    )
    assert response.status_code == 422


async def test_down_mode_answers_503_until_lifted(client: httpx.AsyncClient) -> None:
    await _faults(client, down=True)
    down = await client.get(f"{BASE}/contacts/search", params={"q": "x"}, headers=USER)
    unauthenticated = await client.get(f"{BASE}/contacts/search", params={"q": "x"})
    assert (down.status_code, unauthenticated.status_code) == (503, 503)
    await _faults(client, down=False)
    up = await client.get(f"{BASE}/contacts/search", params={"q": "x"}, headers=USER)
    assert up.status_code == 200


@pytest.mark.parametrize("clear_webhooks", [True, False])
async def test_reset_clears_records(
    client: httpx.AsyncClient, receiver: Receiver, clear_webhooks: bool
) -> None:
    await _conversation(client)
    await _wire_inbox(client, receiver)
    await _faults(client, down=True)
    await client.post("/_sandbox/reset", json={"webhooks": clear_webhooks})
    state = await _state(client)
    assert state["contacts"] == state["conversations"] == state["requests"] == []
    assert state["faults"]["down"] is False
    assert (state["inbox_webhook"] is None) is clear_webhooks


# --- what the contract missed (vendors review) ---------------------------------------------------


async def test_underscore_token_header_is_dropped_by_the_default_proxy(
    client: httpx.AsyncClient,
) -> None:
    underscore = {"api_access_token": CONFIG.chatwoot_user_token}
    search = f"{BASE}/contacts/search"
    dropped = await client.get(search, params={"q": "Ana"}, headers=underscore)
    hyphen = await client.get(search, params={"q": "Ana"}, headers=USER)
    assert (dropped.status_code, hyphen.status_code) == (401, 200)
    assert dropped.json() == {"error": "You need to sign in or sign up before continuing."}
    # Behind Chatwoot's own nginx template (`underscores_in_headers on`) both spellings work.
    await _faults(client, drop_underscore_headers=False)
    kept = await client.get(search, params={"q": "Ana"}, headers=underscore)
    assert kept.status_code == 200


async def test_contact_is_linked_to_an_inbox_with_the_contact_inbox_answer(
    client: httpx.AsyncClient,
) -> None:
    elsewhere = await client.post(
        f"{BASE}/contacts",
        json={
            "inbox_id": CONFIG.chatwoot_other_inbox_id,
            "name": "Ana",
            "phone_number": "+5511987654321",
        },
        headers=USER,
    )
    assert elsewhere.status_code == 200
    contact = elsewhere.json()["payload"]["contact"]
    assert [link["inbox"]["id"] for link in contact["contact_inboxes"]] == [
        CONFIG.chatwoot_other_inbox_id
    ]
    url = f"{BASE}/contacts/{contact['id']}/contact_inboxes"
    linked = await client.post(url, json={"inbox_id": CONFIG.chatwoot_inbox_id}, headers=USER)
    assert linked.status_code == 200
    # The `_contact_inbox` partial, not wrapped in `payload`.
    answer = linked.json()
    assert set(answer) == {"source_id", "inbox"}
    assert UUID.fullmatch(answer["source_id"])
    assert answer["inbox"] == {
        "id": CONFIG.chatwoot_inbox_id,
        "name": CONFIG.chatwoot_inbox_name,
        "channel_type": "Channel::Api",
    }
    conversation = await client.post(
        f"{BASE}/conversations",
        json={"source_id": answer["source_id"], "inbox_id": CONFIG.chatwoot_inbox_id},
        headers=USER,
    )
    assert conversation.status_code == 200
    assert conversation.json()["inbox_id"] == CONFIG.chatwoot_inbox_id

    chosen = await client.post(
        url, json={"inbox_id": CONFIG.chatwoot_inbox_id, "source_id": "mine"}, headers=USER
    )
    assert chosen.json()["source_id"] == "mine"
    taken = await client.post(
        url, json={"inbox_id": CONFIG.chatwoot_inbox_id, "source_id": "mine"}, headers=USER
    )
    assert taken.status_code == 422
    unknown_inbox = await client.post(url, json={"inbox_id": 99}, headers=USER)
    no_inbox = await client.post(url, json={}, headers=USER)
    unknown_contact = await client.post(
        f"{BASE}/contacts/4242/contact_inboxes", json={"inbox_id": 1}, headers=USER
    )
    bot = await client.post(url, json={"inbox_id": 1}, headers=BOT)
    assert [r.status_code for r in (unknown_inbox, no_inbox, unknown_contact, bot)] == [
        404,
        404,
        404,
        401,
    ]
    [stored] = (await _state(client))["contacts"]
    assert [link["inbox_id"] for link in stored["contact_inboxes"]] == [2, 1, 1]


async def test_contact_without_inbox_has_no_contact_inbox(client: httpx.AsyncClient) -> None:
    response = await client.post(f"{BASE}/contacts", json={"name": "Caio"}, headers=USER)
    assert response.status_code == 200
    payload = response.json()["payload"]
    assert payload["contact_inbox"] == {"inbox": None, "source_id": None}
    assert payload["contact"]["contact_inboxes"] == []


async def _toggle(client: httpx.AsyncClient, conversation_id: int, status: str) -> None:
    response = await client.post(
        f"{BASE}/conversations/{conversation_id}/toggle_status",
        json={"status": status},
        headers=USER,
    )
    assert response.status_code == 200, response.text


async def test_toggle_status_open_assigns_the_calling_agent(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    assign = f"{BASE}/conversations/{conversation_id}/assignments"
    await client.post(assign, json={"assignee_id": 7}, headers=USER)
    # Already open: the condition is the status after the call, so it fires all the same.
    await _toggle(client, conversation_id, "open")
    [conversation] = (await _state(client))["conversations"]
    assert (conversation["status"], conversation["assignee_id"]) == (
        "open",
        CONFIG.chatwoot_user_id,
    )
    updates = [p["body"]["changed_attributes"] for p in _events(receiver, "conversation_updated")]
    assert updates[-1] == [
        {"assignee_id": {"current_value": CONFIG.chatwoot_user_id, "previous_value": 7}}
    ]
    # Any other status leaves the assignee alone.
    await client.post(assign, json={"assignee_id": 7}, headers=USER)
    await _toggle(client, conversation_id, "pending")
    [conversation] = (await _state(client))["conversations"]
    assert conversation["assignee_id"] == 7


async def test_toggle_status_by_an_administrator_or_a_bot_keeps_the_assignee(
    client: httpx.AsyncClient,
) -> None:
    conversation_id = await _conversation(client)
    await client.post(
        f"{BASE}/conversations/{conversation_id}/assignments",
        json={"assignee_id": 7},
        headers=USER,
    )
    await _toggle(client, conversation_id, "pending")
    bot = await client.post(
        f"{BASE}/conversations/{conversation_id}/toggle_status",
        json={"status": "open"},
        headers=BOT,
    )
    assert bot.status_code == 200
    await _faults(client, api_user_role="administrator")
    await _toggle(client, conversation_id, "pending")
    await _toggle(client, conversation_id, "open")
    [conversation] = (await _state(client))["conversations"]
    assert (conversation["status"], conversation["assignee_id"]) == ("open", 7)


async def test_versions_decide_what_is_signed(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    webhook = await client.post(
        f"{BASE}/webhooks",
        json={"url": receiver.url("account"), "subscriptions": ["message_created"]},
        headers=USER,
    )
    assert "secret" in webhook.json()["payload"]["webhook"]
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)

    def headers_of(name: str) -> dict[str, str]:
        [post] = [p for p in receiver.posts if p["name"] == name]
        receiver.posts.remove(post)
        return dict(post["headers"])

    settings = (await client.get("/_sandbox/chatwoot/inbox")).json()
    assert settings["secret"] == CONFIG.chatwoot_webhook_secret
    assert settings["hmac_token"] == CONFIG.chatwoot_inbox_hmac_token != settings["secret"]

    await _faults(client, version="4.12.1")
    await _message(client, conversation_id, content="4.12")
    account, inbox = headers_of("account"), headers_of("chatwoot")
    assert "x-chatwoot-signature" in account
    assert "x-chatwoot-signature" not in inbox
    assert "x-chatwoot-timestamp" not in inbox
    settings = (await client.get("/_sandbox/chatwoot/inbox")).json()
    # Before 4.13 the inbox shows only its HMAC token: the value an operator may copy.
    assert (settings["secret"], settings["hmac_token"]) == (None, CONFIG.chatwoot_inbox_hmac_token)

    await _faults(client, version="4.11.1")
    await _message(client, conversation_id, content="4.11.1")
    for headers in (headers_of("account"), headers_of("chatwoot")):
        assert not {"x-chatwoot-signature", "x-chatwoot-delivery"} & set(headers)
    listed = await client.get(f"{BASE}/webhooks", headers=USER)
    assert "secret" not in listed.json()["payload"]["webhooks"][0]


@pytest.mark.parametrize(
    ("by", "sender", "attributes"),
    [
        ("automation", None, {"automation_rule_id": 4}),
        ("agent_bot", {"id": CONFIG.chatwoot_bot_id, "type": "agent_bot"}, {}),
        ("captain_assistant", {"id": 1, "type": "captain_assistant"}, {}),
    ],
)
async def test_messages_no_person_typed_have_the_real_shapes(
    client: httpx.AsyncClient,
    receiver: Receiver,
    by: str,
    sender: dict[str, Any] | None,
    attributes: dict[str, Any],
) -> None:
    conversation_id = await _conversation(client)
    await _wire_inbox(client, receiver)
    response = await client.post(
        "/_sandbox/chatwoot/automated_message",
        json={
            "conversation_id": conversation_id,
            "content": "Estamos fora do horário.",
            "by": by,
            "automation_rule_id": 4,
        },
    )
    assert response.status_code == 200
    [post] = _events(receiver, "message_created")
    body = post["body"]
    assert (body["message_type"], body["private"]) == ("outgoing", False)
    assert body["content_attributes"] == attributes
    if sender is None:
        assert body["sender"] is None
    else:
        assert {key: body["sender"][key] for key in sender} == sender
    event = parse_event(json.dumps(body))
    assert event.sender_type == (sender["type"] if sender else None)


async def test_deleting_a_contact_needs_an_administrator_and_takes_its_conversations(
    client: httpx.AsyncClient,
) -> None:
    display_id = await _conversation(client)
    contact_id = (await _state(client))["contacts"][0]["id"]

    as_agent = await client.delete(f"{BASE}/contacts/{contact_id}", headers=USER)
    assert as_agent.status_code == 401
    assert as_agent.json() == {"error": "You are not authorized to do this action"}
    as_bot = await client.delete(f"{BASE}/contacts/{contact_id}", headers=BOT)
    assert as_bot.status_code == 401

    faults = await client.post("/_sandbox/chatwoot/faults", json={"api_user_role": "administrator"})
    assert faults.status_code == 200
    deleted = await client.delete(f"{BASE}/contacts/{contact_id}", headers=USER)
    assert deleted.status_code == 200
    assert deleted.content == b""
    state = await _state(client)
    assert state["contacts"] == []
    assert state["conversations"] == []
    gone = await client.get(f"{BASE}/conversations/{display_id}", headers=USER)
    assert gone.status_code == 404
    again = await client.delete(f"{BASE}/contacts/{contact_id}", headers=USER)
    assert again.status_code == 404
