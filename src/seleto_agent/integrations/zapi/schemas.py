"""Z-API payloads we read (contracts/zapi.md §1-2). Unknown fields are kept and ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class ZApiSendResponse(_Lenient):
    zaap_id: str | None = Field(default=None, alias="zaapId")
    message_id: str | None = Field(default=None, alias="messageId")
    id: str | None = None


class ZApiText(_Lenient):
    message: str | None = None


class ZApiCaptioned(_Lenient):
    caption: str | None = None


class ZApiReceivedCallback(_Lenient):
    type: str
    # Required by classify() before this model is built; checked against ZAPI_INSTANCE_ID.
    instance_id: str = Field(alias="instanceId")
    message_id: str | None = Field(default=None, alias="messageId")
    # The number or the `@lid` of the chat (contracts/zapi.md §2.1: either may come).
    phone: str | None = None
    # The contact's `@lid` next to the number (docs examples carry one or the other).
    chat_lid: str | None = Field(default=None, alias="chatLid")
    sender_lid: str | None = Field(default=None, alias="senderLid")
    # Our line, as Z-API writes it (`554499999999`).
    connected_phone: str | None = Field(default=None, alias="connectedPhone")
    from_me: bool = Field(default=False, alias="fromMe")
    # Sent through the API (our own sends echoed back); absent or false: typed on the phone.
    from_api: bool = Field(default=False, alias="fromApi")
    is_group: bool = Field(default=False, alias="isGroup")
    is_newsletter: bool = Field(default=False, alias="isNewsletter")
    broadcast: bool = False
    waiting_message: bool = Field(default=False, alias="waitingMessage")
    is_edit: bool = Field(default=False, alias="isEdit")
    sender_name: str | None = Field(default=None, alias="senderName")
    notification: str | None = None
    text: ZApiText | None = None
    audio: dict[str, Any] | None = None
    image: ZApiCaptioned | None = None
    video: ZApiCaptioned | None = None
    document: ZApiCaptioned | None = None
    sticker: dict[str, Any] | None = None
    location: dict[str, Any] | None = None
    contact: dict[str, Any] | None = None
    reaction: dict[str, Any] | None = None
    buttons_response_message: dict[str, Any] | None = Field(
        default=None, alias="buttonsResponseMessage"
    )
    list_response_message: dict[str, Any] | None = Field(default=None, alias="listResponseMessage")


class ZApiStatusCallback(_Lenient):
    type: str
    instance_id: str | None = Field(default=None, alias="instanceId")
    status: str | None = None
    # Z-API docs DISAGREE: the field table says `id` (string), every example sends `ids`.
    ids: list[str] | None = None
    id: str | None = None
    message_id: str | None = Field(default=None, alias="messageId")
    # The chat the message went to.
    phone: str | None = None
