"""Cloud API webhooks on both databases: the verification handshake, the signature over the raw
bytes, one stored event per item of a batched body, duplicate storms, statuses, and what every
kind of item is stored as (contracts/whatsapp_cloud_2026.md §2.2-2.7)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from seleto_agent.db.tables import delivery_receipts, inbound_events, outbound_messages
from tests.conftest import Service
from tests.meta_factories import (
    LEAD,
    PHONE_NUMBER_ID,
    SIGNED_SIGNATURE,
    VERIFY_TOKEN,
    change,
    envelope,
    fixture,
    item,
    meta_settings,
    post_meta,
    signed_body,
    text_message,
)


@pytest.fixture
async def meta(service_factory: Any) -> Service:
    """The service with Cloud API webhooks configured and no worker: what ingest stored stays
    as stored."""
    service: Service = await service_factory(worker_embedded=False, **meta_settings())
    return service


async def rows(service: Service, *columns: Any, **where: Any) -> list[Any]:
    query = select(*(columns or [inbound_events])).order_by(inbound_events.c.id)
    for column, value in where.items():
        query = query.where(inbound_events.c[column] == value)
    async with service.runtime.engine.connect() as conn:
        return list((await conn.execute(query)).all())


async def count(service: Service, table: Any = inbound_events) -> int:
    async with service.runtime.engine.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# --- GET verification ---------------------------------------------------------------------


def hub(**params: str) -> dict[str, str]:
    return {f"hub.{k}": v for k, v in params.items()}


async def test_the_handshake_echoes_the_raw_challenge(meta: Service) -> None:
    response = await meta.client.get(
        "/webhooks/meta",
        params=hub(mode="subscribe", verify_token=VERIFY_TOKEN, challenge="1158201444"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert response.text == "1158201444"


@pytest.mark.parametrize(
    "params",
    [
        hub(mode="subscribe", verify_token="wrong", challenge="1158201444"),
        hub(mode="unsubscribe", verify_token=VERIFY_TOKEN, challenge="1158201444"),
        hub(mode="subscribe", verify_token=VERIFY_TOKEN),
        hub(mode="subscribe", verify_token=VERIFY_TOKEN, challenge=""),
        hub(verify_token=VERIFY_TOKEN, challenge="1158201444"),
        {},
    ],
)
async def test_a_handshake_that_is_not_ours_is_403(meta: Service, params: dict[str, str]) -> None:
    response = await meta.client.get("/webhooks/meta", params=params)
    assert response.status_code == 403
    assert "1158201444" not in response.text
    assert len(response.content) < 100


async def test_without_a_verify_token_every_handshake_is_403(service_factory: Any) -> None:
    service: Service = await service_factory(
        worker_embedded=False, **meta_settings(meta_verify_token=None)
    )
    response = await service.client.get(
        "/webhooks/meta", params=hub(mode="subscribe", verify_token="", challenge="1")
    )
    assert response.status_code == 403


# --- POST signature -----------------------------------------------------------------------


async def test_the_real_meta_signed_body_is_accepted_and_kept_byte_for_byte(
    meta: Service,
) -> None:
    raw = signed_body()
    assert len(raw) == 511
    response = await post_meta(meta, raw, signature=SIGNED_SIGNATURE)
    assert response.status_code == 200
    assert response.json() == {"status": "accepted"}
    (row,) = await rows(meta)
    assert row.payload == raw
    assert row.provider == "meta"
    assert row.instance_id == PHONE_NUMBER_ID
    assert row.message_id.startswith("wamid.HBgMOTcy")
    assert row.body_text == "Hey there! I am using PyWa."
    assert row.sent_at == datetime.fromtimestamp(1730231903, UTC)


async def test_an_upper_case_signature_is_the_same_signature(meta: Service) -> None:
    response = await post_meta(meta, signed_body(), signature=SIGNED_SIGNATURE.upper())
    assert response.json() == {"status": "accepted"}


def one_byte_changed() -> bytes:
    raw = bytearray(signed_body())
    raw[raw.index(b"Hey")] = ord("h")
    return bytes(raw)


def pretty_printed() -> bytes:
    return json.dumps(json.loads(signed_body()), indent=2).encode()


@pytest.mark.parametrize(
    ("body", "signature"),
    [
        (one_byte_changed, SIGNED_SIGNATURE),
        (pretty_printed, SIGNED_SIGNATURE),
        (signed_body, None),
        (signed_body, "sha256="),
        (signed_body, "sha1=" + SIGNED_SIGNATURE.removeprefix("sha256=")),
        (signed_body, SIGNED_SIGNATURE.removeprefix("sha256=")),
        (signed_body, SIGNED_SIGNATURE[:-1] + "0"),
    ],
    ids=["one-byte", "pretty", "no-header", "empty", "sha1", "no-prefix", "last-digit"],
)
async def test_a_body_whose_signature_does_not_match_is_401_and_not_stored(
    meta: Service, body: Any, signature: str | None
) -> None:
    expected = SIGNED_SIGNATURE.removeprefix("sha256=")
    response = await post_meta(meta, body(), signature=signature, signed=False)
    assert response.status_code == 401
    assert response.json()["error"] == "Unauthorized"
    assert expected not in response.text
    assert await count(meta) == 0


async def test_without_an_app_secret_every_post_is_401(service_factory: Any) -> None:
    service: Service = await service_factory(
        worker_embedded=False, **meta_settings(meta_app_secret=None)
    )
    response = await post_meta(service, signed_body(), signature=SIGNED_SIGNATURE)
    assert response.status_code == 401
    assert await count(service) == 0


async def test_a_signed_malformed_body_is_400_and_kept(meta: Service) -> None:
    response = await post_meta(meta, b'{"object": "whatsapp_business_account", "entry": [')
    assert response.status_code == 400
    assert response.json()["error"] == "MalformedJson"
    (row,) = await rows(meta)
    assert (row.status, row.last_error) == ("ignored", "malformed_json")
    response = await post_meta(meta, b"[1, 2]")
    assert response.status_code == 400
    assert await count(meta) == 2


# --- batching and dedupe ------------------------------------------------------------------


def batched_body() -> dict[str, Any]:
    """2 entries × 2 changes; each change holds two messages, two statuses and an error."""

    def one_change(tag: str) -> dict[str, Any]:
        return change(
            messages=[text_message(f"{tag} primeira"), text_message(f"{tag} segunda")],
            statuses=[item("status", "sent"), item("status", "played")],
            errors=[{"code": 130429, "title": "Rate limit hit"}],
        )

    body = envelope(one_change("a"), one_change("b"), entries=2)
    # Each entry its own items (envelope repeats the same changes in every entry).
    body["entry"][1]["changes"] = [one_change("c"), one_change("d")]
    return body


async def test_every_item_of_a_batched_body_is_its_own_event_with_the_whole_body(
    meta: Service,
) -> None:
    body = batched_body()
    response = await post_meta(meta, body)
    assert response.json() == {"status": "accepted"}
    stored = await rows(meta)
    assert len(stored) == 4 * 5
    assert {json.loads(r.payload) == body for r in stored} == {True}
    texts = sorted(r.body_text for r in stored if r.status == "received")
    assert texts == sorted(f"{t} {n}" for t in "abcd" for n in ("primeira", "segunda"))
    errors = [r.last_error for r in stored if r.event_type == "error"]
    assert errors == ["meta_error:130429"] * 4
    assert len({r.message_id for r in stored}) == 20


async def test_ten_concurrent_copies_of_a_batch_store_each_item_once(meta: Service) -> None:
    body = batched_body()
    raw = json.dumps(body).encode()
    responses = await asyncio.gather(*(post_meta(meta, raw) for _ in range(10)))
    # Copies race item by item: one copy may win a message, another the next one, a third
    # only statuses (`ignored`); what matters is that each item is stored once.
    statuses = [r.json()["status"] for r in responses]
    assert {r.status_code for r in responses} == {200}
    assert "accepted" in statuses
    assert await count(meta) == 20
    assert len(await rows(meta, inbound_events.c.id, status="received")) == 8
    # A re-delivery days later (Meta retries for up to 7 days) is still a duplicate.
    assert (await post_meta(meta, raw)).json() == {"status": "duplicate"}


async def test_a_body_without_items_is_still_kept(meta: Service) -> None:
    response = await post_meta(meta, envelope())
    assert response.json() == {"status": "ignored"}
    (row,) = await rows(meta)
    assert (row.status, row.last_error) == ("ignored", "no_items")


# --- routing ------------------------------------------------------------------------------


async def test_another_numbers_notification_is_stored_but_starts_nothing(meta: Service) -> None:
    body = envelope(change(messages=[text_message("oi")], phone_number_id="999999999999999"))
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    (row,) = await rows(meta)
    assert (row.status, row.last_error, row.instance_id) == (
        "ignored",
        "unknown_instance",
        "999999999999999",
    )
    assert row.conversation_key is None
    assert json.loads(row.payload) == body


async def test_an_unknown_object_is_stored_and_ignored(meta: Service) -> None:
    body = {"object": "page", "entry": [{"id": "1", "changes": []}]}
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    (row,) = await rows(meta)
    assert (row.last_error, row.event_type) == ("unknown_object", "unknown_object")
    assert (await post_meta(meta, body)).json() == {"status": "duplicate"}


async def test_other_fields_are_ignored_with_their_name(meta: Service) -> None:
    body = envelope(
        {"field": "account_update", "value": {"phone_number": "15550783881", "event": "X"}}
    )
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    (row,) = await rows(meta)
    assert row.last_error == "account_update"


# --- classification -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("reaction", "reaction"),
        ("unreaction_empty", "reaction"),
        ("interactive_message_with_err", "malformed_interactive"),
        ("customer_identity_changed", "system:customer_identity_changed"),
    ],
)
async def test_items_that_start_no_turn_are_kept_with_their_reason(
    meta: Service, key: str, reason: str
) -> None:
    message = item("message", key, **{"from": LEAD})
    assert (await post_meta(meta, envelope(change(messages=[message])))).json() == {
        "status": "ignored"
    }
    (row,) = await rows(meta)
    assert (row.status, row.last_error, row.message_id) == ("ignored", reason, message["id"])


@pytest.mark.parametrize(
    ("key", "kind", "text", "machine_value"),
    [
        ("button_reply", "text", "title", "callback_data"),
        ("list_reply", "text", "title", "callback_data"),
        ("quick_reply", "text", "title", "callback_data"),
        ("voice", "audio", "", None),
        ("unsupported_with_type", "unsupported", "", None),
        ("reply", "text", "replied text", None),
    ],
)
async def test_messages_are_stored_with_their_kind_text_and_machine_value(
    meta: Service, key: str, kind: str, text: str, machine_value: str | None
) -> None:
    message = item("message", key, **{"from": LEAD})
    assert (await post_meta(meta, envelope(change(messages=[message])))).json() == {
        "status": "accepted"
    }
    (row,) = await rows(meta)
    assert (row.content_kind, row.body_text, row.machine_value) == (kind, text, machine_value)
    assert row.conversation_key == f"wa:+{LEAD}"


async def test_an_ad_referral_is_stored_for_the_crm(meta: Service) -> None:
    from seleto_agent.db.repositories.events import EventRepository

    message = item("message", "referral", **{"from": LEAD})
    await post_meta(meta, envelope(change(messages=[message])))
    async with meta.runtime.engine.connect() as conn:
        referrals = await EventRepository(conn).referrals_for(f"wa:+{LEAD}")
    assert referrals == [
        {
            "source_url": "AD_OR_POST_FB_URL",
            "source_id": "ADID",
            "source_type": "ad or post",
            "headline": "AD_TITLE",
            "ctwa_clid": "CTWA_CLID",
        }
    ]
    text_only = text_message("sem anúncio")
    await post_meta(meta, envelope(change(messages=[text_only])))
    (plain,) = await rows(meta, inbound_events.c.referral, message_id=text_only["id"])
    assert plain.referral is None


async def test_a_days_old_message_is_accepted_with_its_own_send_time(meta: Service) -> None:
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    message = text_message("mandei semana passada", timestamp=str(int(sent.timestamp())))
    assert (await post_meta(meta, envelope(change(messages=[message])))).json() == {
        "status": "accepted"
    }
    (row,) = await rows(meta)
    assert row.sent_at == sent
    assert row.status == "received"


async def test_an_odd_shaped_sender_is_kept_but_mapped_to_no_lead(meta: Service) -> None:
    odd = [
        text_message("a", phone=f"{LEAD}\n"),
        text_message("b", phone="".join(chr(0x0660 + int(d)) for d in LEAD)),
        text_message("c", phone=f"{LEAD}@lid"),
        text_message("d", phone=None, from_user_id="BR.1502\n576394655843"),
        text_message("e", phone=None, from_user_id="br.1502576394655843"),
    ]
    body = envelope(change(messages=odd, contacts=[]))
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    stored = await rows(meta)
    assert [r.last_error for r in stored] == ["invalid_sender"] * 5
    assert {r.conversation_key for r in stored} == {None}


# --- statuses -----------------------------------------------------------------------------


async def outbound_row(service: Service, wamid: str) -> None:
    now = datetime.now(UTC)
    async with service.runtime.engine.begin() as conn:
        await conn.execute(
            outbound_messages.insert().values(
                idempotency_key=f"reply:{wamid}",
                provider="meta",
                conversation_key=f"wa:+{LEAD}",
                recipient=LEAD,
                body="Olá!",
                status="sent",
                provider_message_id=wamid,
                created_at=now,
                sent_at=now,
                updated_at=now,
            )
        )


async def delivery(service: Service) -> tuple[str | None, str | None]:
    async with service.runtime.engine.connect() as conn:
        query = select(outbound_messages.c.delivery_status, outbound_messages.c.last_error)
        row = (await conn.execute(query)).one()
    return row.delivery_status, row.last_error


def status(wamid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {"id": wamid, "status": name, "timestamp": "1698266945", "recipient_id": LEAD, **extra}


async def test_statuses_move_a_send_forward_only(meta: Service) -> None:
    await outbound_row(meta, "wamid.OUT-1")
    for name in ("read", "sent", "delivered"):
        body = envelope(change(statuses=[status("wamid.OUT-1", name)]))
        assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    assert await delivery(meta) == ("READ", None)
    await post_meta(meta, envelope(change(statuses=[status("wamid.OUT-1", "played")])))
    assert await delivery(meta) == ("PLAYED", None)
    stored = await rows(meta, inbound_events.c.message_id)
    assert [r.message_id for r in stored] == [
        f"status:wamid.OUT-1:{n}" for n in ("read", "sent", "delivered", "played")
    ]


async def test_a_failure_is_final_and_later_receipts_are_only_recorded(meta: Service) -> None:
    await outbound_row(meta, "wamid.OUT-2")
    await post_meta(meta, envelope(change(statuses=[status("wamid.OUT-2", "sent")])))
    failed = item("status", "failed", id="wamid.OUT-2", recipient_id=LEAD)
    await post_meta(meta, envelope(change(statuses=[failed])))
    assert await delivery(meta) == ("FAILED", "delivery_failed:130472")
    # Another of the lead's devices reports it later (order is not guaranteed).
    await post_meta(meta, envelope(change(statuses=[status("wamid.OUT-2", "delivered")])))
    await post_meta(meta, envelope(change(statuses=[status("wamid.OUT-2", "read")])))
    assert await delivery(meta) == ("FAILED", "delivery_failed:130472")
    async with meta.runtime.engine.connect() as conn:
        receipts = set((await conn.execute(select(delivery_receipts.c.status))).scalars())
    assert receipts == {"SENT", "FAILED", "DELIVERED", "READ"}


async def test_a_repeated_status_is_a_duplicate(meta: Service) -> None:
    await outbound_row(meta, "wamid.OUT-3")
    body = envelope(change(statuses=[status("wamid.OUT-3", "delivered")]))
    assert (await post_meta(meta, body)).json() == {"status": "ignored"}
    assert (await post_meta(meta, body)).json() == {"status": "duplicate"}
    assert await count(meta) == 1


async def test_a_status_for_a_send_not_stored_yet_is_applied_when_it_is(meta: Service) -> None:
    from seleto_agent.services.send_confirmation import apply_early_receipts

    await post_meta(meta, envelope(change(statuses=[status("wamid.LATE", "read")])))
    failed = item("status", "failed", id="wamid.LATE")
    await post_meta(meta, envelope(change(statuses=[failed])))
    await outbound_row(meta, "wamid.LATE")
    async with meta.runtime.engine.begin() as conn:
        await apply_early_receipts(conn, provider="meta", message_id="wamid.LATE")
    assert (await delivery(meta))[0] == "FAILED"


async def test_a_days_old_status_still_applies(meta: Service) -> None:
    await outbound_row(meta, "wamid.OLD")
    old = str(int((datetime.now(UTC) - timedelta(days=5)).timestamp()))
    await post_meta(meta, envelope(change(statuses=[status("wamid.OLD", "read", timestamp=old)])))
    assert (await delivery(meta))[0] == "READ"


async def test_a_bsuid_only_status_is_stored_with_its_recipient(meta: Service) -> None:
    failed = item("status", "bsuid_failed")
    assert (await post_meta(meta, envelope(change(statuses=[failed])))).json() == {
        "status": "ignored"
    }
    (row,) = await rows(meta)
    assert row.message_id == f"status:{failed['id']}:failed"
    assert row.last_error == "delivery_status:FAILED"


async def test_the_tracker_of_a_status_is_kept_in_the_stored_body(meta: Service) -> None:
    tracked = item("status", "with_tracker")
    await post_meta(meta, envelope(change(statuses=[tracked])))
    (row,) = await rows(meta)
    stored = json.loads(row.payload)["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert stored["biz_opaque_callback_data"] == "some data"


# --- fixtures of Meta's own docs -----------------------------------------------------------


async def test_the_docs_text_example_is_accepted_for_its_number(service_factory: Any) -> None:
    body = fixture("webhook_text_message.json")
    service: Service = await service_factory(
        worker_embedded=False, **meta_settings(meta_phone_number_id="106540352242922")
    )
    assert (await post_meta(service, body)).json() == {"status": "accepted"}
    (row,) = await rows(service)
    assert (row.conversation_key, row.reply_to) == ("wa:+16505551234", "16505551234")


async def test_ten_concurrent_copies_of_one_message_answer_one_accepted(meta: Service) -> None:
    raw = json.dumps(envelope(change(messages=[text_message("oi")]))).encode()
    responses = await asyncio.gather(*(post_meta(meta, raw) for _ in range(10)))
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["accepted"] + ["duplicate"] * 9
    assert await count(meta) == 1


async def test_a_refused_signature_is_counted_and_logged_without_the_header(
    meta: Service, capsys: pytest.CaptureFixture[str]
) -> None:
    from seleto_agent.observability.logging import configure_logging
    from seleto_agent.observability.metrics import WEBHOOKS

    configure_logging(level="INFO", fmt="json", pii_key=b"test-key")
    before = WEBHOOKS.labels("meta", "rejected")._value.get()
    forged = "sha256=" + "ab" * 32
    response = await post_meta(meta, signed_body(), signature=forged)
    assert response.status_code == 401
    assert WEBHOOKS.labels("meta", "rejected")._value.get() == before + 1
    output = capsys.readouterr().out
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "meta.signature_refused"]
    assert [line["reason"] for line in refused] == ["mismatch"]
    assert "ab" * 32 not in output
    assert SIGNED_SIGNATURE.removeprefix("sha256=") not in output
