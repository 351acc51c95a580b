"""Chatwoot Application API client (contracts/chatwoot.md §4).

Base `{base_url}/api/v1/accounts/{account_id}`, token in the `api-access-token` header: Chatwoot
reads it as HTTP_API_ACCESS_TOKEN whichever the spelling, and nginx or ingress-nginx in front of
it drops the documented `api_access_token` unless `underscores_in_headers on` (vendors review
#7). In-call retries ride out a blip (429 with its Retry-After, 5xx, network); a longer outage is
the outbox worker's backoff's job. A create that failed after it may have landed in Chatwoot
(timeout, 5xx) is not repeated here: the next job attempt looks the record up first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt

from seleto_agent.integrations.chatwoot.errors import (
    ChatwootAuthError,
    ChatwootNotFound,
    ChatwootRejected,
    ChatwootUnavailable,
)
from seleto_agent.integrations.chatwoot.schemas import (
    SEARCH_PAGE_SIZE,
    Contact,
    ContactSearchPage,
    Conversation,
    ConversationList,
    CreatedContact,
    LabelsAnswer,
    Message,
    MessageList,
    ToggleStatusAnswer,
)
from seleto_agent.integrations.http_retry import RetryAfterWait, retry_after_seconds
from seleto_agent.observability.metrics import CHATWOOT_CALLS

ModelT = TypeVar("ModelT", bound=BaseModel)
ConversationStatus = Literal["open", "resolved", "pending", "snoozed"]

# A phone or identifier lookup matching more contacts than this is a data problem, not a page
# to keep reading.
_MAX_SEARCH_PAGES = 20
# Failures that prove the request never reached Chatwoot, so even a create may be repeated.
_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_ERROR_TEXT_LIMIT = 200


class ChatwootClient:
    vendor = "chatwoot"

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        account_id: int,
        api_token: str,
        timeout_seconds: float,
        retry_wait_max_seconds: float = 2.0,
        in_call_attempts: int = 3,
    ) -> None:
        self._http = http
        self._root = f"{base_url.rstrip('/')}/api/v1/accounts/{account_id}"
        self._headers = {"api-access-token": api_token, "Accept": "application/json"}
        self._timeout = httpx.Timeout(timeout_seconds)
        self._wait = RetryAfterWait(initial=0.2, maximum=retry_wait_max_seconds)
        self._attempts = max(in_call_attempts, 1)

    # --- contacts ----------------------------------------------------------------------------

    async def search_contacts(self, q: str) -> list[Contact]:
        """Every contact whose name, identifier, email or phone matches `q`, all pages read.

        Current Chatwoot says whether another page exists (`meta.has_more`); its `meta.count`
        is the size of the page, not a total. Older versions send no meta: a page that is not
        full is the last one.
        """
        found: dict[int, Contact] = {}
        for page in range(1, _MAX_SEARCH_PAGES + 1):
            body = await self._call(
                "GET", "/contacts/search", "contact_search", params={"q": q, "page": page}
            )
            answer = _parse(ContactSearchPage, body, "contact_search")
            for contact in answer.payload:
                # Contacts created while paging shift later pages; keep the first copy.
                found.setdefault(contact.id, contact)
            has_more = answer.meta.has_more
            if has_more is None:
                has_more = len(answer.payload) >= SEARCH_PAGE_SIZE
            if not has_more:
                break
        return list(found.values())

    async def create_contact(
        self,
        *,
        inbox_id: int,
        name: str,
        phone_number: str | None,
        identifier: str | None,
        custom_attributes: Mapping[str, Any] | None = None,
    ) -> CreatedContact:
        """Creates the contact in `inbox_id`. Chatwoot wants the phone in E.164 with `+`; a
        lead known only by a WhatsApp LID has no phone and is found by `identifier`."""
        payload: dict[str, Any] = {"inbox_id": inbox_id, "name": name}
        if phone_number:
            payload["phone_number"] = phone_number
        if identifier:
            payload["identifier"] = identifier
        if custom_attributes:
            payload["custom_attributes"] = dict(custom_attributes)
        body = await self._call("POST", "/contacts", "contacts", json=payload, creates=True)
        return _created_contact(body, inbox_id)

    async def update_contact(self, contact_id: int, **fields: Any) -> Contact:
        body = await self._call("PUT", f"/contacts/{contact_id}", "contacts", json=fields)
        return _parse(Contact, _unwrap(body), "contacts")

    async def delete_contact(self, contact_id: int) -> bool:
        """`DELETE /contacts/{id}`: Chatwoot answers 200 without a body and destroys the
        contact's conversations and messages with it (in the background); 404 when it is
        gone already, False then, so an erasure run twice succeeds. Chatwoot refuses (422)
        a contact online at that moment and, by its ContactPolicy, a token whose user is not
        an administrator (401)."""
        try:
            await self._call("DELETE", f"/contacts/{contact_id}", "contacts")
        except ChatwootNotFound:
            return False
        return True

    async def link_contact_inbox(self, contact_id: int, inbox_id: int) -> str:
        """Links an existing contact to `inbox_id`; returns the new link's source id, which a
        conversation in that inbox needs. Chatwoot picks a random UUID for an API inbox."""
        body = await self._call(
            "POST",
            f"/contacts/{contact_id}/contact_inboxes",
            "contact_inboxes",
            json={"inbox_id": inbox_id},
            creates=True,
        )
        source_id = _source_id_of(body, inbox_id)
        if source_id is None:
            raise ChatwootRejected(
                f"POST contact_inboxes: answer has no source_id for inbox {inbox_id}"
            )
        return source_id

    async def contact_conversations(self, contact_id: int) -> list[Conversation]:
        body = await self._call(
            "GET", f"/contacts/{contact_id}/conversations", "contact_conversations"
        )
        return _parse(ConversationList, body, "contact_conversations").payload

    # --- conversations -------------------------------------------------------------------------

    async def create_conversation(
        self,
        *,
        source_id: str,
        inbox_id: int,
        contact_id: int,
        status: ConversationStatus = "open",
        additional_attributes: Mapping[str, Any] | None = None,
    ) -> Conversation:
        payload: dict[str, Any] = {
            "source_id": source_id,
            "inbox_id": inbox_id,
            "contact_id": contact_id,
            "status": status,
        }
        if additional_attributes:
            payload["additional_attributes"] = dict(additional_attributes)
        body = await self._call(
            "POST", "/conversations", "conversations", json=payload, creates=True
        )
        return _parse(Conversation, _unwrap(body), "conversations")

    async def conversation(self, conversation_id: int) -> Conversation:
        """One conversation (by display id), with its status and assignee."""
        body = await self._call("GET", f"/conversations/{conversation_id}", "conversations")
        return _parse(Conversation, _unwrap(body), "conversations")

    async def create_message(
        self,
        conversation_id: int,
        *,
        content: str,
        message_type: Literal["outgoing", "incoming"],
        private: bool = False,
        content_attributes: Mapping[str, Any] | None = None,
    ) -> Message:
        payload: dict[str, Any] = {
            "content": content,
            "message_type": message_type,
            "private": private,
        }
        if content_attributes:
            payload["content_attributes"] = dict(content_attributes)
        body = await self._call(
            "POST",
            f"/conversations/{conversation_id}/messages",
            "messages",
            json=payload,
            creates=True,
        )
        return _parse(Message, _unwrap(body), "messages")

    async def list_messages(
        self, conversation_id: int, *, before: int | None = None
    ) -> list[Message]:
        """The latest page of messages, oldest first; `before` (a message id) reads older ones.

        Chatwoot answers a page (20 at the time of writing), not the whole history: enough to
        find what this service posted moments before a crash.
        """
        params = {"before": before} if before is not None else None
        body = await self._call(
            "GET", f"/conversations/{conversation_id}/messages", "messages", params=params
        )
        return _parse(MessageList, body, "messages").payload

    async def toggle_status(
        self,
        conversation_id: int,
        status: ConversationStatus,
        snoozed_until: int | None = None,
    ) -> str | None:
        """Sets the status; returns the status Chatwoot reports afterwards."""
        payload: dict[str, Any] = {"status": status}
        if snoozed_until is not None:
            payload["snoozed_until"] = snoozed_until
        body = await self._call(
            "POST",
            f"/conversations/{conversation_id}/toggle_status",
            "toggle_status",
            json=payload,
        )
        return _parse(ToggleStatusAnswer, body, "toggle_status").payload.current_status

    async def assign(
        self, conversation_id: int, *, assignee_id: int | None = None, team_id: int | None = None
    ) -> None:
        """Assign to an agent, else to a team; Chatwoot ignores `team_id` next to an agent."""
        if assignee_id is None and team_id is None:
            raise ValueError("assign needs assignee_id or team_id")
        payload = {"assignee_id": assignee_id} if assignee_id is not None else {"team_id": team_id}
        await self._call(
            "POST", f"/conversations/{conversation_id}/assignments", "assignments", json=payload
        )

    async def unassign(self, conversation_id: int) -> None:
        """Leaves the conversation without an agent (its team, if any, stays)."""
        await self._call(
            "POST",
            f"/conversations/{conversation_id}/assignments",
            "assignments",
            json={"assignee_id": None},
        )

    async def set_labels(self, conversation_id: int, labels: list[str]) -> list[str]:
        """Replace the conversation's labels (Chatwoot overwrites); returns the stored list."""
        body = await self._call(
            "POST", f"/conversations/{conversation_id}/labels", "labels", json={"labels": labels}
        )
        return _parse(LabelsAnswer, body, "labels").payload

    # --- transport -----------------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        resource: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        creates: bool = False,
    ) -> Any:
        def worth_retrying(exc: BaseException) -> bool:
            if not isinstance(exc, ChatwootUnavailable):
                return False
            # A 429 is refused before any work; a 5xx or a read timeout may hide a created row.
            return not (creates and exc.maybe_committed)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=self._wait,
            retry=retry_if_exception(worth_retrying),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._send(method, path, resource, params=params, json=json)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        method: str,
        path: str,
        resource: str,
        *,
        params: Mapping[str, Any] | None,
        json: Mapping[str, Any] | None,
    ) -> Any:
        label = f"{method} {resource}"
        try:
            response = await self._http.request(
                method,
                f"{self._root}{path}",
                params=dict(params) if params else None,
                json=dict(json) if json is not None else None,
                headers=self._headers,
                timeout=self._timeout,
            )
        except httpx.HTTPError as exc:
            CHATWOOT_CALLS.labels(method, resource, "network").inc()
            # Only the class name: httpx messages may carry the URL, never useful, never needed.
            raise ChatwootUnavailable(
                f"{label}: {type(exc).__name__}", maybe_committed=not isinstance(exc, _NEVER_SENT)
            ) from exc
        outcome, error = _classify(response, label)
        CHATWOOT_CALLS.labels(method, resource, outcome).inc()
        if error is not None:
            raise error
        if not response.content:
            return {}
        try:
            return response.json()
        except ValueError as exc:
            raise ChatwootUnavailable(
                f"{label}: HTTP {response.status_code} answer is not JSON",
                status_code=response.status_code,
                maybe_committed=True,
            ) from exc


def _classify(response: httpx.Response, label: str) -> tuple[str, Exception | None]:
    status = response.status_code
    if 200 <= status < 300:
        return "ok", None
    detail, field_errors = _error_details(response)
    message = f"{label}: HTTP {status}: {detail}" if detail else f"{label}: HTTP {status}"
    if status == 429:
        return "rate_limited", ChatwootUnavailable(
            message, status_code=status, retry_after=retry_after_seconds(response)
        )
    if status >= 500:
        return "server_error", ChatwootUnavailable(
            message,
            status_code=status,
            retry_after=retry_after_seconds(response),
            maybe_committed=True,
        )
    if status in (401, 403):
        return "auth", ChatwootAuthError(message, status_code=status)
    if status == 404:
        return "not_found", ChatwootNotFound(message, status_code=status)
    return "rejected", ChatwootRejected(message, status_code=status, field_errors=field_errors)


def _error_details(response: httpx.Response) -> tuple[str, dict[str, list[str]]]:
    """Chatwoot's own words (`message`, `error` or `errors`) and per-attribute errors.

    Rails validation answers are `{"message": "Phone number has already been taken",
    "attributes": ["phone_number"]}`; messages name fields, not the values sent.
    """
    try:
        body = response.json()
    except ValueError:
        return "", {}
    if not isinstance(body, dict):
        return "", {}
    parts: list[str] = []
    for key in ("message", "error", "errors"):
        value = body.get(key)
        if isinstance(value, str) and value:
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(str(item) for item in value if isinstance(item, str | int))
    detail = "; ".join(parts)[:_ERROR_TEXT_LIMIT]
    field_errors: dict[str, list[str]] = {}
    errors = body.get("errors")
    if isinstance(errors, dict):
        for field, messages in errors.items():
            items = messages if isinstance(messages, list) else [messages]
            field_errors[str(field)] = [str(item)[:_ERROR_TEXT_LIMIT] for item in items]
    attributes = body.get("attributes")
    if isinstance(attributes, list) and detail:
        for attribute in attributes:
            field_errors.setdefault(str(attribute), []).append(detail)
    return detail, field_errors


def _unwrap(body: Any) -> Any:
    """Some answers wrap the record in `payload`, some do not; accept both."""
    if isinstance(body, dict) and isinstance(body.get("payload"), dict):
        return body["payload"]
    return body


def _parse(model: type[ModelT], body: Any, resource: str) -> ModelT:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        # Only the first error's location: values could be a lead's personal data.
        where = ".".join(str(part) for part in exc.errors()[0]["loc"]) if exc.errors() else ""
        raise ChatwootUnavailable(
            f"{resource}: unexpected answer shape ({where or 'body'})", maybe_committed=True
        ) from None


def _created_contact(body: Any, inbox_id: int) -> CreatedContact:
    """Reads both answer shapes of `POST /contacts`.

    Chatwoot answers `{"payload": {"contact": {...}, "contact_inbox": {"inbox": {...},
    "source_id": ...}}}`; some versions answer the contact itself with `contact_inboxes[]`.
    """
    payload = _unwrap(body)
    if isinstance(payload, dict) and isinstance(payload.get("contact"), dict):
        contact = _parse(Contact, payload["contact"], "contacts")
        link = payload.get("contact_inbox")
        source_id = _source_id_of(link, inbox_id) or contact.source_id_for(inbox_id)
    else:
        contact = _parse(Contact, payload, "contacts")
        source_id = contact.source_id_for(inbox_id)
    if not source_id:
        raise ChatwootRejected(
            f"POST contacts: answer has no contact_inbox for inbox {inbox_id}; "
            "check CHATWOOT_INBOX_ID"
        )
    return CreatedContact(contact_id=contact.id, source_id=source_id, contact=contact)


def _source_id_of(link: Any, inbox_id: int) -> str | None:
    if not isinstance(link, dict):
        return None
    source_id = link.get("source_id")
    inbox = link.get("inbox")
    linked_inbox = inbox.get("id") if isinstance(inbox, dict) else link.get("inbox_id")
    if linked_inbox is not None and str(linked_inbox) != str(inbox_id):
        return None
    return source_id if isinstance(source_id, str) and source_id else None
