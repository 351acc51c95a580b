"""The one typed settings object, read from the environment and `.env`.

Names follow INTERFACE.md §2 exactly; operators and deploy scripts rely on them.
"""

from __future__ import annotations

from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from seleto_agent.domain.phone import normalise_phone_input

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class AppEnv(StrEnum):
    DEV = "dev"
    TEST = "test"
    PROD = "prod"


class WhatsAppProviderName(StrEnum):
    ZAPI = "zapi"
    META = "meta"


# A smaller MAX_TURN_INPUT_CHARS would leave the model little but the note that text was cut.
MIN_TURN_INPUT_CHARS = 500

# --- prod secret rules (C29) -------------------------------------------------------------
# Secrets we generate ourselves (shared with Z-API, Chatwoot, Meta or ops): at least this long.
# 32 characters of `openssl rand -hex 32` output are 128 bits, out of reach of online guessing
# (401s are not rate-limited) and of any offline search; shorter ones are typed, not generated.
MIN_SECRET_LENGTH = 32
# A long run of one or two characters passes a length check but is no secret.
MIN_SECRET_DISTINCT_CHARACTERS = 8
OWN_SECRETS = {
    "ADMIN_TOKEN": "admin_token",
    "OS_SECURITY_KEY": "os_security_key",
    "ZAPI_WEBHOOK_TOKEN": "zapi_webhook_token",
    "CHATWOOT_WEBHOOK_TOKEN": "chatwoot_webhook_token",
    "LOG_PII_KEY": "log_pii_key",
    "META_VERIFY_TOKEN": "meta_verify_token",
    # Issued by Meta, always 32 hex characters: the length rule catches a truncated paste.
    "META_APP_SECRET": "meta_app_secret",
}
# Issued by the vendor, whose format we do not choose (Chatwoot's tokens are 24 characters):
# only refused when they are a value published in this repository.
VENDOR_SECRETS = {
    "OPENAI_API_KEY": "openai_api_key",
    "ZAPI_INSTANCE_TOKEN": "zapi_instance_token",
    "ZAPI_CLIENT_TOKEN": "zapi_client_token",
    "META_ACCESS_TOKEN": "meta_access_token",
    "CHATWOOT_API_TOKEN": "chatwoot_api_token",
    "CHATWOOT_WEBHOOK_SECRET": "chatwoot_webhook_secret",
    "PIPERUN_TOKEN": "piperun_token",
}
SECRET_VARIABLES = frozenset(OWN_SECRETS) | frozenset(VENDOR_SECRETS)
# Values anyone can read in this repository or its history: the dev values .env.example used to
# ship, the default below, and the simulators' fake credentials (sandbox/config.py).
PUBLISHED_PLACEHOLDERS = frozenset(
    {
        "dev-admin-token",
        "dev-os-security-key",
        "dev-webhook-token",
        "dev-only-log-key",
        "sandbox-instance-token",
        "sandbox-client-token",
        "0123456789abcdef0123456789abcdef",
        "sandbox-chatwoot-user-token",
        "sandbox-chatwoot-bot-token",
        "sandbox-chatwoot-webhook-secret",
        "sandbox-chatwoot-inbox-hmac-token",
        "sk-sandbox-not-a-real-key",
        "sandbox-meta-access-token",
        "5a4d0b0f6e1c4a7e9b3d2c1f0e9d8c7b",
    }
)


def secret_weakness(value: str, *, own: bool) -> str | None:
    """Why a secret is unfit for prod, or None; the reason never quotes the value."""
    if value in PUBLISHED_PLACEHOLDERS:
        return "a value published in this repository"
    if own and len(value) < MIN_SECRET_LENGTH:
        return f"shorter than {MIN_SECRET_LENGTH} characters"
    if own and len(set(value)) < MIN_SECRET_DISTINCT_CHARACTERS:
        return f"fewer than {MIN_SECRET_DISTINCT_CHARACTERS} distinct characters"
    return None


class MissingSecretsError(RuntimeError):
    """Raised at start-up in prod when required secrets are unset or weak; names every one."""

    def __init__(self, missing: list[str], weak: dict[str, str] | None = None) -> None:
        self.missing = missing
        self.weak = weak or {}
        problems = []
        if missing:
            problems.append("set these variables: " + ", ".join(sorted(missing)))
        if self.weak:
            problems.append(
                "replace these: "
                + ", ".join(f"{name} ({why})" for name, why in sorted(self.weak.items()))
            )
        super().__init__(
            "APP_ENV=prod refuses to start; "
            + "; ".join(problems)
            + ". Generate a secret with `openssl rand -hex 32`."
        )


# -----------------------------------------------------------------------------------------


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # `NAME=` in an env file means "not set", not an empty string (or a crash for ints).
        env_ignore_empty=True,
    )

    app_env: AppEnv = AppEnv.DEV
    database_url: str = "sqlite:///var/seleto.db"
    # Connections each process keeps open to the database (plus half as many for bursts):
    # processes x (size x 1.5) must stay under the server's limit (Supabase's smallest plans
    # allow 60 direct connections).
    database_pool_size: int = Field(default=20, ge=1)
    admin_token: SecretStr | None = None
    os_security_key: SecretStr | None = None

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    # A small, cheap chat model is enough for qualification chat; override per deployment.
    openai_model: str = "gpt-4.1-mini"
    openai_transcribe_model: str = "gpt-4o-mini-transcribe"
    # Tried when the main speech-to-text model fails or hears only silence: a different model
    # family (Whisper) fails differently. "none", or the main model's id, turns it off.
    openai_transcribe_fallback_model: str | None = "whisper-1"
    # First pause between the quick in-call retries of a transcription (then doubled, 2 s at
    # most); a longer outage is left to the worker's backoff.
    openai_transcribe_retry_wait_seconds: float = Field(default=0.2, ge=0)
    # The model call is the slowest step of a turn; bound it so a hung request becomes a retry.
    openai_timeout_seconds: float = 45.0
    # An OpenAI outage (429, 5xx, timeouts) does not use up INBOUND_MAX_ATTEMPTS: the turn keeps
    # retrying; after this long the lead gets one holding message, and after the second the
    # conversation goes to a person with a note to the lead (never silence, never `dead`).
    model_outage_hold_seconds: float = Field(default=60.0, gt=0)
    model_outage_handoff_seconds: float = Field(default=900.0, gt=0)

    whatsapp_provider: WhatsAppProviderName = WhatsAppProviderName.ZAPI
    zapi_base_url: str = "https://api.z-api.io"
    zapi_instance_id: str | None = None
    zapi_instance_token: SecretStr | None = None
    zapi_client_token: SecretStr | None = None
    zapi_webhook_token: SecretStr | None = None
    # The company's WhatsApp number on the instance; when set, a callback naming another
    # `connectedPhone` is ignored (Z-API signs nothing: DECISIONS C26). Any common format.
    zapi_connected_phone: str | None = None
    # Z-API documents no timeout; 10 s is far above its normal latency and below the turn lease.
    zapi_timeout_seconds: float = 10.0
    # A send that ended without a usable answer (timeout, 5xx...) may be out there: wait this
    # long for Z-API's delivery callback or echo before sending it once more. Z-API holds a
    # send for `delayMessage` (1-3 s by default, up to 15 s) before it goes out and calls back;
    # 60 s is four times the longest documented hold, and a lead waits that long only when the
    # answer was lost and no callback came.
    outbound_unknown_grace_seconds: float = Field(default=60.0, gt=0)

    meta_graph_base_url: str = "https://graph.facebook.com"
    # Pinned, never "latest": v25.0 is usable until 2028-07-29 (contracts: Graph versions).
    meta_graph_version: str = Field(default="v25.0", pattern=r"^v\d{2,3}\.\d$")
    meta_access_token: SecretStr | None = None
    meta_phone_number_id: str | None = None
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    # Meta takes no idempotency key either: same rule and budget as ZAPI_TIMEOUT_SECONDS.
    meta_timeout_seconds: float = Field(default=10.0, gt=0)
    # Approved pt_BR template sent when an SDR replies after the 24 h service window closed;
    # unset = the reply is not sent and Chatwoot gets a note saying why.
    meta_reengage_template: str | None = None
    # Meta's pair rate limit (131056) is about one message per 6 s to one user; counted here
    # from when a send was let go, so half a second covers its trip to Meta.
    meta_pair_gap_seconds: float = Field(default=6.5, ge=0)
    # Sends per second for the whole number, shared by every process through the database;
    # under Meta's default 80 mps (inbound counts too), and 20 for a Coexistence number.
    meta_max_mps: float = Field(default=60.0, gt=0)
    # Free text only while the window has at least this long left (clock skew, queueing).
    meta_window_safety_seconds: float = Field(default=60.0, ge=0)

    chatwoot_base_url: str | None = None
    chatwoot_account_id: int | None = None
    chatwoot_inbox_id: int | None = None
    chatwoot_api_token: SecretStr | None = None
    chatwoot_webhook_token: SecretStr | None = None
    # Comma list: one webhook secret per webhook pointing here (the API inbox's, an account
    # webhook's), plus the old one during a rotation. Never the inbox's HMAC token.
    chatwoot_webhook_secret: SecretStr | None = None
    # Chatwoot's own webhook timeout is 5 s; our calls to it get the same budget.
    chatwoot_timeout_seconds: float = Field(default=5.0, gt=0)
    # Signed webhooks older (or newer) than this are refused as replays (Chatwoot PR 13573: ~5 min).
    chatwoot_signature_tolerance_seconds: int = Field(default=300, ge=1)
    # Where a handed-off conversation goes: an agent wins over a team (Chatwoot ignores team_id
    # when assignee_id is present); both unset = left unassigned, still labelled.
    chatwoot_handoff_assignee_id: int | None = None
    chatwoot_handoff_team_id: int | None = None
    # Comma list set on a handed-off conversation (Chatwoot's labels call overwrites the list).
    chatwoot_handoff_labels: str = "lead-quente,atendimento-humano"
    # What an SDR resolving the conversation in Chatwoot means: "resume_bot" or "nothing".
    chatwoot_on_resolved: Literal["resume_bot", "nothing"] = "resume_bot"

    piperun_base_url: str = "https://api.pipe.run/v1"
    piperun_token: SecretStr | None = None
    piperun_pipeline_id: int | None = None
    piperun_stage_id: int | None = None
    piperun_origin_id: int | None = None
    piperun_owner_id: int | None = None
    # PipeRun's own extractor waits 60 s and the public Python client 20 s; a sync job is
    # background work, so 20 s keeps a hung call from holding a worker slot for long.
    piperun_timeout_seconds: float = Field(default=20.0, gt=0)
    # Consecutive failures that open the circuit, and how long it stays open before one probe.
    piperun_breaker_failures: int = Field(default=5, ge=1)
    piperun_breaker_reset_seconds: float = Field(default=60.0, gt=0)

    # Where `migrate` finds the SQL files; the default is the repository's folder.
    migrations_dir: Path = PROJECT_ROOT / "supabase" / "migrations"
    # The versioned system prompt the agent runs with.
    prompt_file: Path = PROJECT_ROOT / "prompts" / "sp_agente_v1.xml"
    fixed_replies_file: Path = PROJECT_ROOT / "prompts" / "respostas_fixas_v1.yaml"
    knowledge_file: Path = PROJECT_ROOT / "knowledge" / "catalog.yaml"

    business_hours_file: Path = Path("config/business_hours.yaml")
    # A message from the company phone is checked against our own sends after this pause
    # (our send's echo can beat its stored message id); not ours = an SDR took over.
    phone_echo_grace_seconds: float = Field(default=5.0, ge=0)
    human_idle_resume_hours: float = 0.0

    # Five attempts with exponential backoff from 2 s cover ~1 minute of a vendor outage before
    # an event is parked as dead for ops to replay.
    inbound_max_attempts: int = Field(default=5, ge=1)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    # Backoff never grows past this, so a replayed event is retried within minutes.
    retry_max_seconds: float = Field(default=300.0, gt=0)
    # Outbox jobs (CRM sync, Chatwoot mirror) keep retrying while the vendor is unavailable
    # (5xx, 429, timeouts, open circuit) for this long before they are parked as dead.
    outbox_give_up_hours: float = Field(default=24.0, gt=0)
    # Retention (services/retention.py; 0 = keep forever). Raw webhook bodies: 30 days, the
    # life of Z-API's audio links. Message texts, transcripts, reply bodies and idle agent
    # sessions: 90 days (PRD D6). Audit rows: 90 days (PRD D6), `lgpd.*` rows kept.
    retention_days_payloads: int = Field(default=30, ge=0)
    retention_days_transcripts: int = Field(default=90, ge=0)
    retention_days_audit: int = Field(default=90, ge=0)
    # Rows per retention transaction: small enough never to hold the tables for long.
    retention_batch_size: int = Field(default=500, ge=1)

    worker_embedded: bool = True
    # Whether this process's worker also runs the outbox (CRM sync, Chatwoot mirror); turn
    # workers and outbox workers can then be scaled apart.
    outbox_enabled: bool = True
    # A standalone `seleto-agent worker` serves /metrics on this port (0 = off); `serve` has
    # its own /metrics route.
    worker_metrics_port: int = 0
    # Turns run concurrently per worker process (each for a different phone).
    worker_concurrency: int = Field(default=8, ge=1)
    # How often an idle worker looks for work; in-process ingestion also wakes it at once.
    worker_poll_seconds: float = Field(default=0.5, gt=0)
    # A turn's lease on its phone; renewed while the turn runs, so a killed worker's phone is
    # taken over after at most this long.
    worker_lease_seconds: float = Field(default=30.0, gt=0)

    # Silence after which a phone gets a fresh agent session (with a summary, issue 3).
    session_window_hours: float = Field(default=24.0, gt=0)
    # Leads often send a thought in 2-3 quick messages; wait this long for the burst to end,
    # but never more than the max, to keep the client's 5 s p95 reply target within reach.
    debounce_seconds: float = Field(default=1.5, ge=0)
    debounce_max_seconds: float = Field(default=5.0, ge=0)

    # Kill switch and per-channel switches (domain/flags.py): the values until an operator sets
    # one with `PUT /admin/flags/{name}`; from then on the database's value wins.
    bot_enabled: bool = True
    bot_enabled_zapi: bool = True
    bot_enabled_meta: bool = True
    bot_enabled_ads: bool = True
    # How long each process reuses its read of the flags: a turn asks every time, and a change
    # reaches every process within this (2 s at most, as the RUNBOOK promises).
    flags_cache_seconds: float = Field(default=2.0, ge=0, le=2.0)
    # Bot replies one lead may get (0 = no budget). A qualification takes 10-20 turns, and the
    # debounce makes each burst one turn: 30 in an hour is a turn every 2 minutes for an hour,
    # 120 a day four such hours. Past it: one fixed note and a hand-off, never a model run.
    turn_budget_per_hour: int = Field(default=30, ge=0)
    turn_budget_per_day: int = Field(default=120, ge=0)
    # Longest burst the model reads, in characters (0 = no cap); a longer one keeps its most
    # recent part. 4,000 is pages of typing; a 65k paste would otherwise ride in 12 runs of
    # history (redteam M5).
    max_turn_input_chars: int = Field(default=4000, ge=0)
    # Requests per minute one client address may make to the public routes other than the
    # webhooks and /healthz (0 = no limit); see api/rate_limit.py for why those two are exempt.
    rate_limit_per_ip_per_minute: int = Field(default=300, ge=0)

    # 16 MiB: WhatsApp's own cap for audio; an Opus voice note of 5 minutes is about 1 MiB.
    audio_max_bytes: int = 16 * 1024 * 1024
    # A lead's voice note is rarely over a minute; 5 minutes bounds transcription cost and time.
    audio_max_seconds: int = 300
    # Comma list; empty = the providers' media hosts (integrations/media/policy.py).
    media_allowed_hosts: str = ""
    # Whole download of one voice note, redirects included: a stalled storage server becomes a
    # retry instead of holding the phone's turn.
    media_timeout_seconds: float = Field(default=20.0, gt=0)

    # Key for the HMAC that stands in for phones in logs; a plain hash of a phone is reversible
    # by brute force (about 10^11 candidates).
    log_pii_key: SecretStr = SecretStr("dev-only-log-key")
    log_level: str = "INFO"
    log_format: str = "json"
    # Webhook bodies above this are refused with 413 (INTERFACE.md: 1 MiB).
    max_body_bytes: int = 1024 * 1024
    # Webhook requests one process works on at once; past it, a 503 with Retry-After (the
    # providers re-send) instead of a queue that grows until connections drop. Above the
    # database pool (DATABASE_POOL_SIZE), so a burst waits a little for a connection first.
    ingest_max_inflight: int = Field(default=64, ge=1)
    port: int = 8000
    # /metrics without a bearer (INTERFACE §3). Business volumes are not for the internet: in
    # prod the default is off, and Prometheus then sends `Authorization: Bearer ADMIN_TOKEN`.
    metrics_public: bool = Field(
        default_factory=lambda data: data.get("app_env") is not AppEnv.PROD
    )

    @field_validator("database_url")
    @classmethod
    def _strip_url(cls, value: str) -> str:
        return value.strip()

    @field_validator("max_turn_input_chars")
    @classmethod
    def _room_for_the_cut_note(cls, value: int) -> int:
        if 0 < value < MIN_TURN_INPUT_CHARS:
            raise ValueError(
                f"MAX_TURN_INPUT_CHARS must be 0 (off) or at least {MIN_TURN_INPUT_CHARS}"
            )
        return value

    @field_validator("zapi_connected_phone")
    @classmethod
    def _connected_phone_e164(cls, value: str | None) -> str | None:
        if value is None:
            return None
        e164 = normalise_phone_input(value)
        if e164 is None:
            raise ValueError("ZAPI_CONNECTED_PHONE is not a phone number")
        return e164

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def missing_prod_secrets(self) -> list[str]:
        required: dict[str, object] = {
            "ADMIN_TOKEN": self.admin_token,
            "OS_SECURITY_KEY": self.os_security_key,
            "OPENAI_API_KEY": self.openai_api_key,
        }
        if self.whatsapp_provider is WhatsAppProviderName.ZAPI:
            required |= {
                "ZAPI_INSTANCE_ID": self.zapi_instance_id,
                "ZAPI_INSTANCE_TOKEN": self.zapi_instance_token,
                "ZAPI_CLIENT_TOKEN": self.zapi_client_token,
                "ZAPI_WEBHOOK_TOKEN": self.zapi_webhook_token,
            }
        else:
            required |= {
                "META_ACCESS_TOKEN": self.meta_access_token,
                "META_PHONE_NUMBER_ID": self.meta_phone_number_id,
                "META_APP_SECRET": self.meta_app_secret,
                "META_VERIFY_TOKEN": self.meta_verify_token,
            }
        if self.chatwoot_base_url:
            # With Chatwoot on, a webhook nobody signed could make the bot send any text to any
            # lead and silence it (redteam H3): prod takes Chatwoot whole or not at all.
            required |= {
                "CHATWOOT_ACCOUNT_ID": self.chatwoot_account_id,
                "CHATWOOT_INBOX_ID": self.chatwoot_inbox_id,
                "CHATWOOT_API_TOKEN": self.chatwoot_api_token,
                "CHATWOOT_WEBHOOK_TOKEN": self.chatwoot_webhook_token,
                "CHATWOOT_WEBHOOK_SECRET": self.chatwoot_webhook_secret,
            }
        missing = [name for name, value in required.items() if not _is_set(value)]
        if self.log_pii_key.get_secret_value() in ("", "dev-only-log-key"):
            missing.append("LOG_PII_KEY")
        return missing

    def weak_prod_secrets(self) -> dict[str, str]:
        """Set secrets that prod refuses, by variable name, with the reason."""
        weak: dict[str, str] = {}
        for rules, own in ((OWN_SECRETS, True), (VENDOR_SECRETS, False)):
            for name, field in rules.items():
                value = secret(getattr(self, field))
                reason = secret_weakness(value, own=own) if value else None
                if reason is not None:
                    weak[name] = reason
        return weak

    def check_for_startup(self) -> None:
        if self.app_env is AppEnv.PROD:
            missing = self.missing_prod_secrets()
            weak = {k: v for k, v in self.weak_prod_secrets().items() if k not in missing}
            if missing or weak:
                raise MissingSecretsError(missing, weak)


def _is_set(value: object) -> bool:
    if value is None:
        return False
    if isinstance(value, SecretStr):
        return bool(value.get_secret_value())
    return bool(str(value))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def secret(value: SecretStr | None) -> str | None:
    """The plain value of an optional secret."""
    return value.get_secret_value() if value is not None else None
