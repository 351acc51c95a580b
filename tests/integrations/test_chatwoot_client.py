"""The real Chatwoot client against the live Chatwoot simulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from seleto_agent.integrations.chatwoot import (
    ChatwootAuthError,
    ChatwootClient,
    ChatwootNotFound,
    ChatwootRejected,
    ChatwootUnavailable,
)
from tests.conftest import (
    CHATWOOT_ACCOUNT_ID,
    CHATWOOT_BOT_TOKEN,
    CHATWOOT_INBOX_ID,
    CHATWOOT_OTHER_INBOX_ID,
    CHATWOOT_USER_TOKEN,
    Sandbox,
    free_port,
    wait_for,
)

PHONE = "+5511987654321"
MESSAGES_ROUTE = "POST /conversations/{conversation_id}/messages"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


def chatwoot(http: httpx.AsyncClient, sandbox: Sandbox, **overrides: Any) -> ChatwootClient:
    values: dict[str, Any] = {
        "http": http,
        "base_url": sandbox.url,
        "account_id": CHATWOOT_ACCOUNT_ID,
        "api_token": CHATWOOT_USER_TOKEN,
        "timeout_seconds": 5.0,
        "retry_wait_max_seconds": 0.05,
    }
    values.update(overrides)
    return ChatwootClient(**values)


def requests(sandbox: Sandbox, route: str | None = None) -> list[dict[str, Any]]:
    recorded: list[dict[str, Any]] = sandbox.chatwoot_state()["requests"]
    return [r for r in recorded if route is None or r["route"] == route]


async def new_conversation(client: ChatwootClient, phone: str = PHONE) -> int:
    created = await client.create_contact(
        inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=phone, identifier=phone[1:]
    )
    conversation = await client.create_conversation(
        source_id=created.source_id, inbox_id=CHATWOOT_INBOX_ID, contact_id=created.contact_id
    )
    return conversation.id


async def test_contact_methods(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    client = chatwoot(http, sandbox)
    created = await client.create_contact(
        inbox_id=CHATWOOT_INBOX_ID,
        name="Ana",
        phone_number=PHONE,
        identifier="5511987654321",
        custom_attributes={"cnpj": "11222333000181"},
    )
    [stored] = sandbox.chatwoot_state()["contacts"]
    assert created.contact_id == stored["id"]
    assert created.source_id == stored["contact_inboxes"][0]["source_id"]
    assert created.contact.custom_attributes == {"cnpj": "11222333000181"}

    updated = await client.update_contact(created.contact_id, name="Ana Souza")
    assert updated.name == "Ana Souza"
    assert updated.custom_attributes == {"cnpj": "11222333000181"}

    [found] = await client.search_contacts(PHONE)
    assert (found.id, found.name, found.phone_number) == (created.contact_id, "Ana Souza", PHONE)
    assert found.source_id_for(CHATWOOT_INBOX_ID) == created.source_id
    assert await client.search_contacts("+5521000000000") == []


async def test_conversation_and_message_methods(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    client = chatwoot(http, sandbox)
    created = await client.create_contact(
        inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="5511987654321"
    )
    conversation = await client.create_conversation(
        source_id=created.source_id,
        inbox_id=CHATWOOT_INBOX_ID,
        contact_id=created.contact_id,
        additional_attributes={"origin": "whatsapp"},
    )
    [stored] = sandbox.chatwoot_state()["conversations"]
    assert conversation.id == stored["display_id"] != stored["internal_id"]
    assert conversation.status == "open"
    assert conversation.contact_id == created.contact_id
    assert conversation.additional_attributes == {"origin": "whatsapp"}
    [recovered] = await client.contact_conversations(created.contact_id)
    assert recovered.id == conversation.id

    incoming = await client.create_message(
        conversation.id, content="Quero um orçamento", message_type="incoming"
    )
    outgoing = await client.create_message(
        conversation.id,
        content="Olá! Posso ajudar.",
        message_type="outgoing",
        content_attributes={"seleto_outbound_id": "out-7"},
    )
    note = await client.create_message(
        conversation.id, content="lead quente", message_type="outgoing", private=True
    )
    assert (incoming.message_type, incoming.sender and incoming.sender.type) == (
        "incoming",
        "contact",
    )
    assert outgoing.message_type == "outgoing"
    assert outgoing.conversation_id == conversation.id
    assert note.private is True

    listed = await client.list_messages(conversation.id)
    stamped = [m for m in listed if m.content_attributes.get("seleto_outbound_id") == "out-7"]
    assert [m.id for m in stamped] == [outgoing.id]
    assert [m.id for m in listed] == [incoming.id, outgoing.id, note.id]

    assert await client.toggle_status(conversation.id, "pending") == "pending"
    await client.assign(conversation.id, assignee_id=3, team_id=4)
    await client.assign(conversation.id, team_id=4)
    assert await client.set_labels(conversation.id, ["a", "b"]) == ["a", "b"]
    assert await client.set_labels(conversation.id, ["b"]) == ["b"]
    [stored] = sandbox.chatwoot_state()["conversations"]
    assert (stored["status"], stored["assignee_id"], stored["team_id"], stored["labels"]) == (
        "pending",
        3,
        4,
        ["b"],
    )
    with pytest.raises(ValueError, match="assignee_id or team_id"):
        await client.assign(conversation.id)


async def _leads(client: ChatwootClient, count: int) -> None:
    for index in range(count):
        await client.create_contact(
            inbox_id=CHATWOOT_INBOX_ID,
            name=f"Lead Seleto {index}",
            phone_number=f"+55119000000{index:02d}",
            identifier=f"lead-{index}",
        )


async def test_search_follows_every_page(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    client = chatwoot(http, sandbox)
    await _leads(client, 20)
    found = await client.search_contacts("Lead Seleto")
    assert [c.name for c in found] == [f"Lead Seleto {index}" for index in range(20)]
    pages = [r["query"] for r in requests(sandbox, "GET /contacts/search")]
    assert [("page=1" in q, "page=2" in q) for q in pages] == [(True, False), (False, True)]


async def test_search_stops_when_chatwoot_says_there_is_no_more(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    await _leads(client, 15)
    assert len(await client.search_contacts("Lead Seleto")) == 15
    # A full page with `has_more: false` is the last one: no request for an empty page 2.
    assert len(requests(sandbox, "GET /contacts/search")) == 1


async def test_search_without_meta_reads_until_a_short_page() -> None:
    """Older Chatwoot answers `{payload: [...]}` only: page until a page is not full."""
    contacts = [{"id": 100 + index, "name": f"Lead {index}"} for index in range(17)]
    pages: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages.append(str(page))
        return httpx.Response(200, json={"payload": contacts[(page - 1) * 15 : page * 15]})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ChatwootClient(
            http=http, base_url="http://cw", account_id=1, api_token="tok", timeout_seconds=1
        )
        found = await client.search_contacts("Lead")
    assert [c.id for c in found] == [c["id"] for c in contacts]
    assert pages == ["1", "2"]


async def test_existing_contact_is_linked_to_the_inbox(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    elsewhere = await client.create_contact(
        inbox_id=CHATWOOT_OTHER_INBOX_ID, name="Ana", phone_number=PHONE, identifier=None
    )
    source_id = await client.link_contact_inbox(elsewhere.contact_id, CHATWOOT_INBOX_ID)
    [found] = await client.search_contacts(PHONE)
    assert found.source_id_for(CHATWOOT_INBOX_ID) == source_id
    conversation = await client.create_conversation(
        source_id=source_id, inbox_id=CHATWOOT_INBOX_ID, contact_id=found.id
    )
    assert conversation.inbox_id == CHATWOOT_INBOX_ID
    route = "POST /contacts/{contact_id}/contact_inboxes"
    [linked] = requests(sandbox, route)
    assert linked["status"] == 200
    with pytest.raises(ChatwootNotFound):
        await client.link_contact_inbox(4242, CHATWOOT_INBOX_ID)


async def test_conversation_is_read_with_its_status_and_assignee(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    conversation_id = await new_conversation(client)
    await client.assign(conversation_id, assignee_id=7)
    read = await client.conversation(conversation_id)
    assert (read.id, read.status, read.assignee_id) == (conversation_id, "open", 7)
    await client.unassign(conversation_id)
    assert (await client.conversation(conversation_id)).assignee_id is None


async def test_token_is_sent_in_the_proxy_safe_spelling(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    """nginx drops `api_access_token` by default; Chatwoot reads `api-access-token` as well."""
    assert sandbox.chatwoot_state()["faults"]["drop_underscore_headers"] is True
    assert await chatwoot(http, sandbox).search_contacts("Ana") == []
    [request] = requests(sandbox)
    assert (request["status"], request["token"]) == (200, "user")


async def test_create_contact_reads_the_contact_itself_shape() -> None:
    """Some Chatwoot versions answer the contact with `contact_inboxes[]` instead."""
    answer = {
        "payload": {
            "id": 55,
            "name": "Ana",
            "phone_number": PHONE,
            "contact_inboxes": [
                {"source_id": "other-inbox", "inbox": {"id": 9}},
                {"source_id": "ours", "inbox": {"id": CHATWOOT_INBOX_ID}},
            ],
        }
    }

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["api-access-token"] == "tok"
        assert "api_access_token" not in request.headers
        return httpx.Response(200, json=answer)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        client = ChatwootClient(
            http=http, base_url="http://cw", account_id=1, api_token="tok", timeout_seconds=1
        )
        created = await client.create_contact(
            inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="x"
        )
        assert (created.contact_id, created.source_id) == (55, "ours")

        answer["payload"]["contact_inboxes"] = []
        with pytest.raises(ChatwootRejected, match="no contact_inbox"):
            await client.create_contact(
                inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="x"
            )


async def test_429_retry_after_is_honoured(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    sandbox.chatwoot_faults(queues={"GET /contacts/search": [{"status": 429, "retry_after": 1}]})
    started = time.monotonic()
    assert await chatwoot(http, sandbox).search_contacts("Ana") == []
    assert time.monotonic() - started >= 1.0
    assert [r["status"] for r in requests(sandbox)] == [429, 200]


async def test_429_on_a_create_is_retried(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    client = chatwoot(http, sandbox)
    conversation_id = await new_conversation(client)
    sandbox.chatwoot_faults(queues={MESSAGES_ROUTE: [{"status": 429, "retry_after": 0}]})
    await client.create_message(conversation_id, content="oi", message_type="outgoing")
    assert [r["status"] for r in requests(sandbox, MESSAGES_ROUTE)] == [429, 200]
    assert len(sandbox.chatwoot_messages(conversation_id)) == 1


async def test_5xx_on_get_is_retried(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    client = chatwoot(http, sandbox)
    conversation_id = await new_conversation(client)
    route = "GET /conversations/{conversation_id}/messages"
    sandbox.chatwoot_faults(queues={route: [{"status": 503}, {"status": 500}]})
    assert await client.list_messages(conversation_id) == []
    assert [r["status"] for r in requests(sandbox, route)] == [503, 500, 200]


async def test_5xx_on_a_create_is_not_retried_in_call(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    conversation_id = await new_conversation(client)
    sandbox.chatwoot_faults(queues={MESSAGES_ROUTE: [{"status": 500, "after_commit": True}]})
    with pytest.raises(ChatwootUnavailable) as caught:
        await client.create_message(
            conversation_id,
            content="oi",
            message_type="outgoing",
            content_attributes={"seleto_outbound_id": "out-1"},
        )
    assert caught.value.maybe_committed is True
    assert caught.value.status_code == 500
    assert [r["status"] for r in requests(sandbox, MESSAGES_ROUTE)] == [500]
    # The message exists: the next attempt finds it by its stamp instead of posting again.
    [landed] = await client.list_messages(conversation_id)
    assert landed.content_attributes == {"seleto_outbound_id": "out-1"}


async def test_timeout_on_a_create_is_not_retried_in_call(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.chatwoot_faults(queues={"POST /contacts": [{"delay": 0.6}]})
    client = chatwoot(http, sandbox, timeout_seconds=0.2)
    with pytest.raises(ChatwootUnavailable, match="ReadTimeout") as caught:
        await client.create_contact(
            inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="x"
        )
    assert caught.value.maybe_committed is True
    await wait_for(lambda: requests(sandbox, "POST /contacts"), timeout=3)
    assert len(requests(sandbox, "POST /contacts")) == 1
    assert len(sandbox.chatwoot_state()["contacts"]) == 1


async def test_refused_connection_is_retried_and_unavailable(http: httpx.AsyncClient) -> None:
    client = ChatwootClient(
        http=http,
        base_url=f"http://127.0.0.1:{free_port()}",
        account_id=1,
        api_token=CHATWOOT_USER_TOKEN,
        timeout_seconds=1,
        retry_wait_max_seconds=0.01,
    )
    before = _calls("POST", "contacts", "network")
    with pytest.raises(ChatwootUnavailable) as caught:
        await client.create_contact(inbox_id=1, name="Ana", phone_number=PHONE, identifier="x")
    # Never reached Chatwoot, so even a create may be repeated.
    assert caught.value.maybe_committed is False
    assert _calls("POST", "contacts", "network") - before == 3


async def test_down_is_unavailable_after_the_in_call_attempts(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    sandbox.chatwoot_down()
    with pytest.raises(ChatwootUnavailable) as caught:
        await chatwoot(http, sandbox).search_contacts("Ana")
    assert caught.value.status_code == 503
    assert [r["status"] for r in requests(sandbox)] == [503, 503, 503]
    sandbox.chatwoot_down(False)
    assert await chatwoot(http, sandbox).search_contacts("Ana") == []


async def test_wrong_token_is_an_auth_error_without_the_token(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    token = "wrong-token-4f7a"
    with pytest.raises(ChatwootAuthError) as caught:
        await chatwoot(http, sandbox, api_token=token).search_contacts("Ana")
    assert caught.value.status_code == 401
    assert caught.value.vendor == "chatwoot"
    assert caught.value.retryable is False
    assert token not in str(caught.value)
    assert len(requests(sandbox)) == 1  # not retried


async def test_bot_token_on_contacts_is_an_auth_error(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    with pytest.raises(ChatwootAuthError) as caught:
        await chatwoot(http, sandbox, api_token=CHATWOOT_BOT_TOKEN).search_contacts("Ana")
    assert CHATWOOT_BOT_TOKEN not in str(caught.value)


async def test_unknown_conversation_is_not_found(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    with pytest.raises(ChatwootNotFound) as caught:
        await chatwoot(http, sandbox).create_message(4242, content="oi", message_type="outgoing")
    assert caught.value.status_code == 404
    assert "Resource could not be found" in str(caught.value)
    assert CHATWOOT_USER_TOKEN not in str(caught.value)


async def test_validation_error_is_rejected_with_field_errors_and_no_values(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    await client.create_contact(
        inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="5511987654321"
    )
    with pytest.raises(ChatwootRejected) as caught:
        await client.create_contact(
            inbox_id=CHATWOOT_INBOX_ID, name="Ana", phone_number=PHONE, identifier="other"
        )
    error = caught.value
    assert type(error) is ChatwootRejected
    assert error.status_code == 422
    assert error.field_errors == {"phone_number": ["Phone number has already been taken"]}
    assert PHONE not in str(error)
    assert CHATWOOT_USER_TOKEN not in str(error)


async def test_calls_are_counted(http: httpx.AsyncClient, sandbox: Sandbox) -> None:
    before = _calls("GET", "contact_search", "ok")
    await chatwoot(http, sandbox).search_contacts("Ana")
    assert _calls("GET", "contact_search", "ok") - before == 1


def _calls(method: str, resource: str, outcome: str) -> float:
    labels = {"method": method, "resource": resource, "outcome": outcome}
    return REGISTRY.get_sample_value("seleto_chatwoot_calls_total", labels) or 0.0


async def test_delete_contact_removes_it_and_a_second_delete_finds_it_gone(
    http: httpx.AsyncClient, sandbox: Sandbox
) -> None:
    client = chatwoot(http, sandbox)
    await new_conversation(client)
    [contact] = sandbox.chatwoot_state()["contacts"]

    with pytest.raises(ChatwootAuthError):
        # Chatwoot's ContactPolicy: only an administrator deletes contacts.
        await client.delete_contact(contact["id"])
    sandbox.chatwoot_faults(api_user_role="administrator")
    assert await client.delete_contact(contact["id"]) is True
    assert sandbox.chatwoot_state()["contacts"] == []
    assert sandbox.chatwoot_state()["conversations"] == []
    assert await client.delete_contact(contact["id"]) is False
