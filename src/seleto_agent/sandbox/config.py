"""Static configuration of the local sandbox (TEST/SANDBOX ONLY)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Identity and timing knobs the simulators share.

    Runtime knobs that tests flip (faults, disconnected mode, ...) live in the mutable state,
    not here; this object is fixed for the life of the app.
    """

    # Z-API puts the instance id and token in the URL path; a mismatch is answered with an error.
    zapi_instance_id: str = "SANDBOX-INSTANCE"
    # Fake, public credentials of the simulator; never real secrets.
    zapi_instance_token: str = "sandbox-instance-token"  # noqa: S105
    # Account security token sent by clients in the `Client-Token` header.
    zapi_client_token: str = "sandbox-client-token"  # noqa: S105
    # PipeRun API token expected in the `token` header: 32 hex like a real one, fake.
    piperun_token: str = "0123456789abcdef0123456789abcdef"  # noqa: S105
    # Number of the simulated WhatsApp line (`connectedPhone` in ReceivedCallback).
    zapi_connected_phone: str = "554499999999"
    # Base URL clients use to reach the sandbox; media URLs are built from it.
    public_base_url: str = "http://127.0.0.1:8900"
    # Timeout for each webhook POST towards the service under test.
    webhook_timeout_seconds: float = 10.0
    # Pause between DeliveryCallback and each MessageStatusCallback step after a send.
    status_step_delay_seconds: float = 0.0
    # Chatwoot simulator: one account with one API-channel inbox.
    chatwoot_account_id: int = 1
    chatwoot_account_name: str = "Seleto Sandbox"
    chatwoot_inbox_id: int = 1
    chatwoot_inbox_name: str = "WhatsApp Seleto"
    # A second inbox of the account (a website widget), where contacts that existed before the
    # integration live: found by a phone search, but not linked to the API inbox.
    chatwoot_other_inbox_id: int = 2
    chatwoot_other_inbox_name: str = "Site Seleto"
    # The API inbox's identity-validation token (inbox settings, "Configuration"): shown next to
    # the webhook secret and easily copied in its place; Chatwoot never signs webhooks with it.
    chatwoot_inbox_hmac_token: str = "sandbox-chatwoot-inbox-hmac-token"  # noqa: S105
    # A user's token (what the service uses by default): messages posted with it arrive in
    # webhooks with `sender.type == "user"`, exactly like a human agent's (contracts §5).
    chatwoot_user_token: str = "sandbox-chatwoot-user-token"  # noqa: S105
    chatwoot_user_id: int = 1
    chatwoot_user_name: str = "Seleto Admin"
    chatwoot_user_email: str = "admin@seleto.example"
    # An agent bot's token: its messages arrive with `sender.type == "agent_bot"`.
    chatwoot_bot_token: str = "sandbox-chatwoot-bot-token"  # noqa: S105
    chatwoot_bot_id: int = 1
    chatwoot_bot_name: str = "Seleto Bot"
    # Secret of the API inbox's webhook (`channel.secret`); account webhooks get their own.
    chatwoot_webhook_secret: str = "sandbox-chatwoot-webhook-secret"  # noqa: S105
    # WhatsApp Cloud API simulator: the app's System User token (Bearer), the number's id in
    # the Graph path, the WABA id of webhook entries, and the App Secret that signs webhooks
    # (X-Hub-Signature-256). Fake, public values; Meta issues a 32-hex App Secret.
    meta_access_token: str = "sandbox-meta-access-token"  # noqa: S105
    meta_phone_number_id: str = "106540352242922"
    meta_display_phone_number: str = "554499999999"
    meta_waba_id: str = "102290129340398"
    meta_app_secret: str = "5a4d0b0f6e1c4a7e9b3d2c1f0e9d8c7b"  # noqa: S105
