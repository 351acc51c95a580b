from __future__ import annotations

from seleto_agent.observability.redaction import RedactPII, keyed_hash, scrub


def test_scrub_masks_every_identifier_in_free_text() -> None:
    text = (
        "lead +55 (11) 98765-4321 / 5544999999999 mail joao.silva@example.com "
        "cnpj 11.222.333/0001-81 alfa 12ABC34501DE35 cpf 123.456.789-09 "
        "url http://x/instances/I/token/SECRET/send-text hook /webhooks/zapi/TOKEN123"
    )
    cleaned = scrub(text)
    for leaked in ("98765-4321", "5544999999999", "joao.silva", "11.222.333", "12ABC34501DE35",
                   "123.456.789", "SECRET", "TOKEN123"):  # fmt: skip
        assert leaked not in cleaned, leaked
    assert "***4321" in cleaned
    assert "j***@example.com" in cleaned


def test_innocent_numbers_survive() -> None:
    assert scrub("300 hambúrgueres por hora, event 12345, 2026-11-21") == (
        "300 hambúrgueres por hora, event 12345, 2026-11-21"
    )


def test_processor_drops_text_and_hashes_identifiers() -> None:
    processor = RedactPII(b"k")
    event = processor(
        None,
        "info",
        {
            "event": "x",
            "text": "quero preço",
            "phone": "wa:+5511987654321",
            "note": "ok 5511987654321",
        },
    )
    assert event["text"] == "[redacted 11 chars]"
    assert event["phone"] == f"[{keyed_hash(b'k', 'wa:+5511987654321')}]"
    assert "5511987654321" not in event["note"]
    assert event["event"] == "x"


def test_keyed_hash_depends_on_the_key() -> None:
    assert keyed_hash(b"a", "+5511987654321") != keyed_hash(b"b", "+5511987654321")
