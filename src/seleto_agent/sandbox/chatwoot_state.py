"""In-memory state of the Chatwoot simulator (TEST/SANDBOX ONLY).

One account with an API-channel inbox and a second inbox (a website widget) where contacts that
predate the integration live. Every write runs under the lock and hands back copies, so webhook
payloads built from them show the record as it was at that moment. Row ids and conversation
display ids come from separate counters that never line up, as in Chatwoot, so a client that
puts a row id into a `/conversations/{id}` path gets a 404 here too.
"""

from __future__ import annotations

import copy
import re
import secrets
import threading
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from seleto_agent.sandbox.zapi_state import utc_now_iso

JsonDict = dict[str, Any]
ActorKind = Literal["user", "agent_bot", "captain_assistant", "contact"]
UserRole = Literal["agent", "administrator"]

CONVERSATION_STATUSES: tuple[str, ...] = ("open", "resolved", "pending", "snoozed")
# Chatwoot validates contact phones as E.164 with the leading `+` (Contact model).
E164_PHONE = re.compile(r"\+[1-9]\d{1,14}")
NOT_FOUND_BODY: JsonDict = {"error": "Resource could not be found"}
# Deliveries and requests kept in the state; older ones are dropped first.
_RECORD_LIMIT = 2000
# Chatwoot versions that changed what a webhook carries (maintainer on chatwoot#13862): account
# webhooks got a secret, X-Chatwoot-Timestamp/-Signature and X-Chatwoot-Delivery in 4.11.2
# (PR 13573); API-inbox and agent-bot webhooks got their own secret and signature in 4.13.0
# (PR 13892). The contract's "pre-4.12" for unsigned deliveries was wrong on both counts.
ACCOUNT_WEBHOOK_SIGNING_SINCE = (4, 11, 2)
INBOX_WEBHOOK_SIGNING_SINCE = (4, 13, 0)
_VERSION = re.compile(r"(\d+)\.(\d+)\.(\d+)")


def version_tuple(version: str) -> tuple[int, int, int]:
    """`"4.13.0"` as `(4, 13, 0)`, for comparing Chatwoot versions."""
    match = _VERSION.fullmatch(version.strip())
    if match is None:
        raise ValueError(f"not a Chatwoot version: {version!r}")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


class ChatwootApiError(Exception):
    """An answer other than 2xx, rendered by the API routes as JSON."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def not_found() -> ChatwootApiError:
    return ChatwootApiError(404, dict(NOT_FOUND_BODY))


def invalid(message: str, *attributes: str) -> ChatwootApiError:
    """Rails' `RecordInvalid` rendering: full messages plus the attribute names."""
    return ChatwootApiError(422, {"message": message, "attributes": list(attributes)})


@dataclass(frozen=True, slots=True)
class Actor:
    """Who wrote a message or made a call: the token's user or bot, a Captain assistant, or
    the conversation's contact. A user's `role` is their role in the account."""

    kind: ActorKind
    id: int
    name: str
    email: str | None = None
    role: UserRole | None = None


@dataclass(slots=True)
class ContactInboxRecord:
    id: int
    inbox_id: int
    source_id: str


@dataclass(slots=True)
class ContactRecord:
    id: int
    name: str | None
    email: str | None
    phone_number: str | None
    identifier: str | None
    custom_attributes: JsonDict
    additional_attributes: JsonDict
    created_at: float
    contact_inboxes: list[ContactInboxRecord] = field(default_factory=list)


@dataclass(slots=True)
class MessageRecord:
    id: int
    conversation_id: int  # display id
    content: str | None
    message_type: str
    private: bool
    sender: Actor | None
    content_attributes: JsonDict
    source_id: str | None
    created_at: float


@dataclass(slots=True)
class ConversationRecord:
    internal_id: int
    display_id: int
    contact_id: int
    inbox_id: int
    contact_inbox: ContactInboxRecord
    status: str
    assignee_id: int | None
    team_id: int | None
    labels: list[str]
    custom_attributes: JsonDict
    additional_attributes: JsonDict
    snoozed_until: int | None
    created_at: float
    last_activity_at: float
    messages: list[MessageRecord] = field(default_factory=list)


@dataclass(slots=True)
class WebhookRecord:
    id: int
    url: str
    subscriptions: list[str]
    name: str | None
    secret: str
    inbox_id: int | None


@dataclass(frozen=True, slots=True)
class ChatwootFault:
    """One scripted failure, consumed by the next matching API call.

    `delay` sleeps first. `status` then fails the call before any write, or, with
    `after_commit`, after the write (and its webhooks) went through: the caller sees an error
    for something that exists, which only a lookup can reveal.
    """

    status: int | None = None
    retry_after: float | None = None
    delay: float = 0.0
    after_commit: bool = False


@dataclass(frozen=True, slots=True)
class ChatwootKnobs:
    """Behaviour switches that stay until changed or reset."""

    # Every API call answers 503.
    down: bool = False
    # The Chatwoot release simulated, for what its webhooks carry: below 4.11.2 nothing is
    # signed and there is no X-Chatwoot-Delivery; below 4.13.0 the API inbox's webhook is
    # unsigned (it has no secret then, only its HMAC token) while account webhooks are signed.
    version: str = "4.17.1"
    # Sign with a secret other than the one shown to the receiver (Chatwoot issue 13809).
    wrong_secret: bool = False
    # An nginx or ingress-nginx in front of Chatwoot with its default
    # `underscores_in_headers off`: a header spelled `api_access_token` never reaches Chatwoot
    # (401), while `api-access-token` does; Rails reads both as HTTP_API_ACCESS_TOKEN.
    # Chatwoot's own nginx template turns it on; most other deployments do not.
    drop_underscore_headers: bool = True
    # The role of the user behind the API token. An "agent" who calls toggle_status and leaves
    # the conversation open becomes its assignee (Chatwoot PR 3925); an administrator does not.
    api_user_role: UserRole = "agent"
    # Older Chatwoot put `type: "contact"` on contact senders; newer omits it (§2.2).
    contact_sender_type: bool = False
    # Post each delivery twice with the same X-Chatwoot-Delivery id.
    duplicate_delivery: bool = False
    # Seconds to wait before each delivery starts (the API answer then wins the race).
    delay_seconds: float = 0.0
    # Hold a write's API answer until its webhooks were answered, so the echo of a message
    # beats the answer that carries its id (Chatwoot fires webhooks while the request runs).
    emit_before_response: bool = True


class _Counters:
    def __init__(self) -> None:
        self.contact = 300
        self.contact_inbox = 800
        self.conversation = 1000
        self.display = 0
        self.message = 5000
        self.webhook = 0


class ChatwootState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        # Bumped by reset: deliveries scheduled before it stop and are not recorded.
        self.generation = 0
        self._clear(clear_webhooks=True)

    def _clear(self, *, clear_webhooks: bool) -> None:
        self._ids = _Counters()
        self._contacts: dict[int, ContactRecord] = {}
        self._conversations: dict[int, ConversationRecord] = {}
        self._requests: deque[JsonDict] = deque(maxlen=_RECORD_LIMIT)
        self._deliveries: deque[JsonDict] = deque(maxlen=_RECORD_LIMIT)
        self._faults: dict[str, deque[ChatwootFault]] = {}
        self._knobs = ChatwootKnobs()
        if clear_webhooks:
            self._webhooks: dict[int, WebhookRecord] = {}
            self._inbox_webhook: tuple[str, str | None] | None = None

    def reset(self, *, clear_webhooks: bool) -> None:
        with self._lock:
            self.generation += 1
            webhooks = self._webhooks
            self._clear(clear_webhooks=clear_webhooks)
            if not clear_webhooks:
                self._ids.webhook = max(webhooks, default=0)

    # --- contacts ------------------------------------------------------------------------------

    def create_contact(self, inbox_id: int | None, fields: JsonDict) -> ContactRecord:
        """Creates a contact, linked to `inbox_id` (already checked by the caller) if given;
        Chatwoot's controller makes the inbox optional, whatever the swagger says."""
        with self._lock:
            self._validate_contact(fields, exclude=None)
            self._ids.contact += 1
            contact = ContactRecord(
                id=self._ids.contact,
                name=fields.get("name"),
                email=fields.get("email"),
                phone_number=fields.get("phone_number"),
                identifier=fields.get("identifier"),
                custom_attributes=dict(fields.get("custom_attributes") or {}),
                additional_attributes=dict(fields.get("additional_attributes") or {}),
                created_at=time.time(),
            )
            if inbox_id is not None:
                self._ids.contact_inbox += 1
                # API-channel contact inboxes get a random UUID source id.
                contact.contact_inboxes.append(
                    ContactInboxRecord(self._ids.contact_inbox, inbox_id, str(uuid.uuid4()))
                )
            self._contacts[contact.id] = contact
            return copy.deepcopy(contact)

    def update_contact(self, contact_id: int, fields: JsonDict) -> tuple[ContactRecord, JsonDict]:
        """Returns the contact and `{attribute: [previous, current]}` of what changed."""
        with self._lock:
            contact = self._contact(contact_id)
            self._validate_contact(fields, exclude=contact_id)
            changes: JsonDict = {}
            for name in ("name", "email", "phone_number", "identifier"):
                if name in fields and fields[name] != getattr(contact, name):
                    changes[name] = [getattr(contact, name), fields[name]]
                    setattr(contact, name, fields[name])
            # Chatwoot merges attribute hashes on update instead of replacing them.
            for name in ("custom_attributes", "additional_attributes"):
                if isinstance(fields.get(name), dict):
                    before = dict(getattr(contact, name))
                    merged = {**before, **fields[name]}
                    if merged != before:
                        changes[name] = [before, merged]
                        setattr(contact, name, merged)
            return copy.deepcopy(contact), changes

    def contact(self, contact_id: int) -> ContactRecord:
        with self._lock:
            return copy.deepcopy(self._contact(contact_id))

    def delete_contact(self, contact_id: int) -> None:
        """The contact, its inbox links and its conversations (with their messages)."""
        with self._lock:
            self._contact(contact_id)
            del self._contacts[contact_id]
            for display_id, conversation in list(self._conversations.items()):
                if conversation.contact_id == contact_id:
                    del self._conversations[display_id]

    def search_contacts(self, query: str) -> list[ContactRecord]:
        """Substring match, case-insensitive, on name, email, identifier and phone (the phone
        compared without `+`), like Chatwoot's ILIKE search; oldest first."""
        needle = query.strip().lower()
        digits = needle.lstrip("+")
        with self._lock:
            found = []
            for contact in self._contacts.values():
                texts = [contact.name, contact.email, contact.identifier]
                phone = (contact.phone_number or "").lstrip("+")
                if any(needle in (text or "").lower() for text in texts) or (
                    digits and digits in phone
                ):
                    found.append(copy.deepcopy(contact))
            return found

    def link_contact_inbox(
        self, contact_id: int, inbox_id: int, source_id: str | None
    ) -> ContactInboxRecord:
        """`ContactInbox.create!`: a random UUID source id unless one is given; a source id
        already used in that inbox is a validation error. A contact may hold several links to
        one inbox (Chatwoot validates the source id only)."""
        with self._lock:
            contact = self._contact(contact_id)
            source_id = source_id or str(uuid.uuid4())
            for other in self._contacts.values():
                for link in other.contact_inboxes:
                    if link.inbox_id == inbox_id and link.source_id == source_id:
                        raise invalid("Source has already been taken", "source_id")
            self._ids.contact_inbox += 1
            link = ContactInboxRecord(self._ids.contact_inbox, inbox_id, source_id)
            contact.contact_inboxes.append(link)
            return copy.deepcopy(link)

    def contact_conversations(self, contact_id: int) -> list[ConversationRecord]:
        with self._lock:
            self._contact(contact_id)
            return [
                copy.deepcopy(conversation)
                for conversation in self._conversations.values()
                if conversation.contact_id == contact_id
            ]

    def _contact(self, contact_id: int) -> ContactRecord:
        contact = self._contacts.get(contact_id)
        if contact is None:
            raise not_found()
        return contact

    def _validate_contact(self, fields: JsonDict, *, exclude: int | None) -> None:
        for name in ("name", "email", "phone_number", "identifier"):
            value = fields.get(name)
            if value is not None and not isinstance(value, str):
                raise invalid(f"{name.replace('_', ' ').capitalize()} is invalid", name)
        phone = fields.get("phone_number")
        if phone and not E164_PHONE.fullmatch(phone):
            raise invalid("Phone number should be in e164 format", "phone_number")
        for name, label in (
            ("identifier", "Identifier"),
            ("email", "Email"),
            ("phone_number", "Phone number"),
        ):
            value = fields.get(name)
            if not value:
                continue
            for other in self._contacts.values():
                if other.id != exclude and getattr(other, name) == value:
                    raise invalid(f"{label} has already been taken", name)

    # --- conversations -----------------------------------------------------------------------

    def create_conversation(
        self,
        *,
        source_id: str,
        inbox_id: int | None,
        status: str,
        assignee_id: int | None,
        team_id: int | None,
        additional_attributes: JsonDict,
        custom_attributes: JsonDict,
    ) -> tuple[ConversationRecord, ContactRecord]:
        with self._lock:
            found = self._contact_inbox(source_id)
            if found is None:
                raise not_found()
            contact, link = found
            if inbox_id is not None and inbox_id != link.inbox_id:
                raise invalid("Inbox does not match the contact inbox", "inbox_id")
            self._ids.conversation += 1
            self._ids.display += 1
            now = time.time()
            conversation = ConversationRecord(
                internal_id=self._ids.conversation,
                display_id=self._ids.display,
                contact_id=contact.id,
                inbox_id=link.inbox_id,
                contact_inbox=copy.deepcopy(link),
                status=status,
                assignee_id=assignee_id,
                team_id=team_id,
                labels=[],
                custom_attributes=dict(custom_attributes),
                additional_attributes=dict(additional_attributes),
                snoozed_until=None,
                created_at=now,
                last_activity_at=now,
            )
            self._conversations[conversation.display_id] = conversation
            return copy.deepcopy(conversation), copy.deepcopy(contact)

    def _contact_inbox(self, source_id: str) -> tuple[ContactRecord, ContactInboxRecord] | None:
        for contact in self._contacts.values():
            for link in contact.contact_inboxes:
                if link.source_id == source_id:
                    return contact, link
        return None

    def conversation(self, display_id: int) -> tuple[ConversationRecord, ContactRecord]:
        with self._lock:
            conversation = self._conversation(display_id)
            return copy.deepcopy(conversation), copy.deepcopy(self._contact_of(conversation))

    def add_message(
        self,
        display_id: int,
        *,
        content: str | None,
        message_type: str,
        private: bool,
        sender: Actor | None,
        content_attributes: JsonDict,
        source_id: str | None = None,
    ) -> tuple[ConversationRecord, ContactRecord, MessageRecord, str | None]:
        """Appends a message. An incoming one reopens a resolved or snoozed conversation, as
        Chatwoot does; the previous status is returned when that happened."""
        with self._lock:
            conversation = self._conversation(display_id)
            contact = self._contact_of(conversation)
            if message_type == "incoming" and sender is None:
                sender = Actor("contact", contact.id, contact.name or "")
            message = self._append(
                conversation, content, message_type, private, sender, content_attributes
            )
            message.source_id = source_id
            reopened_from: str | None = None
            if message_type == "incoming" and conversation.status in ("resolved", "snoozed"):
                reopened_from = conversation.status
                conversation.status = "open"
                conversation.snoozed_until = None
                self._append(conversation, "Conversation was reopened", "activity", False, None)
            return (
                copy.deepcopy(conversation),
                copy.deepcopy(contact),
                copy.deepcopy(message),
                reopened_from,
            )

    def set_status(
        self, display_id: int, status: str | None, snoozed_until: int | None, actor: Actor
    ) -> tuple[ConversationRecord, ContactRecord, str, JsonDict]:
        """Without `status` Chatwoot toggles between open and resolved. Returns the previous
        status and `{"assignee_id": [previous, current]}` when the call changed the assignee.

        ConversationsController#toggle_status ends with `assign_conversation if
        @conversation.status == 'open' && Current.user.is_a?(User) && Current.user&.agent?`
        (PR 3925; newer code: `handle_human_open`): a user with the agent role who leaves the
        conversation open becomes its assignee, over any assignee it had, also when it was
        open already. The contract listed toggle_status as a plain status change.
        """
        with self._lock:
            conversation = self._conversation(display_id)
            previous = conversation.status
            if status is None:
                status = "resolved" if previous == "open" else "open"
            conversation.status = status
            conversation.snoozed_until = snoozed_until if status == "snoozed" else None
            if status != previous:
                text = (
                    f"Conversation was reopened by {actor.name}"
                    if status == "open"
                    else f"Conversation was marked {status} by {actor.name}"
                )
                # Chatwoot records status changes as activity messages (not sent to webhooks).
                self._append(conversation, text, "activity", False, None)
            changes: JsonDict = {}
            if status == "open" and actor.kind == "user" and actor.role == "agent":
                if conversation.assignee_id != actor.id:
                    changes["assignee_id"] = [conversation.assignee_id, actor.id]
                    text = f"Assigned to {actor.name} by {actor.name}"
                    self._append(conversation, text, "activity", False, None)
                conversation.assignee_id = actor.id
            return (
                copy.deepcopy(conversation),
                copy.deepcopy(self._contact_of(conversation)),
                previous,
                changes,
            )

    def assign(
        self, display_id: int, key: Literal["assignee_id", "team_id"], value: int | None
    ) -> tuple[ConversationRecord, ContactRecord, JsonDict]:
        """Sets the assignee or the team (None unassigns); returns what changed."""
        with self._lock:
            conversation = self._conversation(display_id)
            previous = getattr(conversation, key)
            setattr(conversation, key, value)
            changes: JsonDict = {key: [previous, value]} if previous != value else {}
            return (
                copy.deepcopy(conversation),
                copy.deepcopy(self._contact_of(conversation)),
                changes,
            )

    def set_labels(
        self, display_id: int, labels: list[str]
    ) -> tuple[ConversationRecord, ContactRecord, list[str]]:
        """Replaces the label list (Chatwoot's labels call overwrites); returns the previous."""
        with self._lock:
            conversation = self._conversation(display_id)
            previous = list(conversation.labels)
            conversation.labels = list(dict.fromkeys(labels))
            return (
                copy.deepcopy(conversation),
                copy.deepcopy(self._contact_of(conversation)),
                previous,
            )

    def _conversation(self, display_id: int) -> ConversationRecord:
        conversation = self._conversations.get(display_id)
        if conversation is None:
            raise not_found()
        return conversation

    def _contact_of(self, conversation: ConversationRecord) -> ContactRecord:
        return self._contacts[conversation.contact_id]

    def _append(
        self,
        conversation: ConversationRecord,
        content: str | None,
        message_type: str,
        private: bool,
        sender: Actor | None,
        content_attributes: JsonDict | None = None,
    ) -> MessageRecord:
        self._ids.message += 1
        now = time.time()
        message = MessageRecord(
            id=self._ids.message,
            conversation_id=conversation.display_id,
            content=content,
            message_type=message_type,
            private=private,
            sender=sender,
            content_attributes=dict(content_attributes or {}),
            source_id=None,
            created_at=now,
        )
        conversation.messages.append(message)
        conversation.last_activity_at = now
        return message

    # --- webhooks ------------------------------------------------------------------------------

    def add_webhook(
        self, *, url: str, subscriptions: list[str], name: str | None, inbox_id: int | None
    ) -> WebhookRecord:
        with self._lock:
            self._ids.webhook += 1
            webhook = WebhookRecord(
                id=self._ids.webhook,
                url=url,
                subscriptions=list(dict.fromkeys(subscriptions)),
                name=name,
                secret=secrets.token_urlsafe(24),
                inbox_id=inbox_id,
            )
            self._webhooks[webhook.id] = webhook
            return replace(webhook)

    def webhooks(self) -> list[WebhookRecord]:
        with self._lock:
            return [replace(webhook) for webhook in self._webhooks.values()]

    def delete_webhook(self, webhook_id: int) -> None:
        with self._lock:
            if self._webhooks.pop(webhook_id, None) is None:
                raise not_found()

    def set_inbox_webhook(self, url: str | None, secret: str | None) -> None:
        with self._lock:
            self._inbox_webhook = (url, secret) if url else None

    def inbox_webhook(self) -> tuple[str, str | None] | None:
        with self._lock:
            return self._inbox_webhook

    # --- records, faults, knobs ----------------------------------------------------------------

    def record_request(self, entry: JsonDict) -> None:
        with self._lock:
            self._requests.append({**entry, "at": utc_now_iso()})

    def record_delivery(self, entry: JsonDict, *, generation: int) -> bool:
        """Records one delivery attempt unless a reset happened since it was scheduled."""
        with self._lock:
            if generation != self.generation:
                return False
            self._deliveries.append({**entry, "at": utc_now_iso()})
            return True

    def set_fault_queue(self, key: str, faults: list[ChatwootFault]) -> None:
        with self._lock:
            self._faults[key] = deque(faults)

    def pop_fault(self, *keys: str) -> ChatwootFault | None:
        """The next fault of the first key with one queued (a concrete path, then its route)."""
        with self._lock:
            for key in keys:
                queue = self._faults.get(key)
                if queue:
                    return queue.popleft()
            return None

    @property
    def knobs(self) -> ChatwootKnobs:
        with self._lock:
            return self._knobs

    def update_knobs(self, **changes: Any) -> ChatwootKnobs:
        with self._lock:
            self._knobs = replace(self._knobs, **changes)
            return self._knobs

    # --- snapshot ------------------------------------------------------------------------------

    def snapshot(self) -> JsonDict:
        with self._lock:
            inbox_webhook = self._inbox_webhook
            return {
                "contacts": [_contact_view(c) for c in self._contacts.values()],
                "conversations": [_conversation_view(c) for c in self._conversations.values()],
                "webhooks": [asdict(webhook) for webhook in self._webhooks.values()],
                "inbox_webhook": (
                    {
                        "url": inbox_webhook[0],
                        "signed": inbox_webhook[1] is not None
                        and version_tuple(self._knobs.version) >= INBOX_WEBHOOK_SIGNING_SINCE,
                    }
                    if inbox_webhook
                    else None
                ),
                "requests": [dict(entry) for entry in self._requests],
                "deliveries": [dict(entry) for entry in self._deliveries],
                "faults": {
                    "queues": {
                        key: [asdict(fault) for fault in queue]
                        for key, queue in self._faults.items()
                        if queue
                    },
                    **asdict(self._knobs),
                },
            }


def _contact_view(contact: ContactRecord) -> JsonDict:
    view = asdict(contact)
    view["contact_inboxes"] = [
        {"inbox_id": link.inbox_id, "source_id": link.source_id} for link in contact.contact_inboxes
    ]
    return view


def _conversation_view(conversation: ConversationRecord) -> JsonDict:
    return {
        "display_id": conversation.display_id,
        "internal_id": conversation.internal_id,
        "contact_id": conversation.contact_id,
        "inbox_id": conversation.inbox_id,
        "source_id": conversation.contact_inbox.source_id,
        "status": conversation.status,
        "assignee_id": conversation.assignee_id,
        "team_id": conversation.team_id,
        "labels": list(conversation.labels),
        "custom_attributes": dict(conversation.custom_attributes),
        "additional_attributes": dict(conversation.additional_attributes),
        "snoozed_until": conversation.snoozed_until,
        "messages": [_message_view(message) for message in conversation.messages],
    }


def _message_view(message: MessageRecord) -> JsonDict:
    return {
        "id": message.id,
        "content": message.content,
        "message_type": message.message_type,
        "private": message.private,
        "sender_type": message.sender.kind if message.sender else None,
        "sender_id": message.sender.id if message.sender else None,
        "content_attributes": dict(message.content_attributes),
        "source_id": message.source_id,
    }
