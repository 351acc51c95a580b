"""Chatwoot: Application API client, webhook parsing and signature checks."""

from seleto_agent.integrations.chatwoot.client import ChatwootClient
from seleto_agent.integrations.chatwoot.errors import (
    ChatwootAuthError,
    ChatwootNotFound,
    ChatwootRejected,
    ChatwootUnavailable,
)
from seleto_agent.integrations.chatwoot.schemas import (
    Contact,
    Conversation,
    CreatedContact,
    Message,
)
from seleto_agent.integrations.chatwoot.signature import SignatureCheck, sign, verify_signature
from seleto_agent.integrations.chatwoot.webhook import (
    ChatwootEvent,
    InvalidChatwootPayload,
    parse_event,
)

__all__ = [
    "ChatwootAuthError",
    "ChatwootClient",
    "ChatwootEvent",
    "ChatwootNotFound",
    "ChatwootRejected",
    "ChatwootUnavailable",
    "Contact",
    "Conversation",
    "CreatedContact",
    "InvalidChatwootPayload",
    "Message",
    "SignatureCheck",
    "parse_event",
    "sign",
    "verify_signature",
]
