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


def test_scrub_drops_sqlalchemy_parameters() -> None:
    message = (
        "(sqlite3.IntegrityError) refused\n[SQL: INSERT INTO t (a, b) VALUES (?, ?)]\n"
        "[parameters: ('Joana Prado', 'quero [uma] FB300')]\n"
        "(Background on this error at: https://sqlalche.me/e/21/gkpj)"
    )
    cleaned = scrub(message)
    assert "Joana" not in cleaned
    assert "FB300" not in cleaned
    assert "[SQL: INSERT INTO t (a, b) VALUES (?, ?)]" in cleaned
    assert "Background on this error" in cleaned


def _raised(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as caught:
        return caught


def test_database_errors_are_described_by_class_only() -> None:
    import sqlite3

    from sqlalchemy.exc import IntegrityError

    from seleto_agent.observability.errors import describe_error

    error = IntegrityError(
        "INSERT ...", ("Joana Prado", "+5511987654321"), sqlite3.IntegrityError()
    )
    assert describe_error(error) == "IntegrityError: database error (IntegrityError)"


def test_foreign_errors_keep_their_place_but_not_their_message() -> None:
    from seleto_agent.observability.errors import describe_error

    error = _raised(ValueError("invalid literal for int() with base 10: 'Joana Prado'"))
    described = describe_error(error)
    assert described.startswith("ValueError at test_redaction.py:")
    assert "Joana" not in described


def test_vendor_words_after_the_status_are_cut_from_our_errors() -> None:
    from seleto_agent.integrations.zapi.client import ZApiRejected
    from seleto_agent.observability.errors import describe_error

    error = ZApiRejected("HTTP 400: cannot send 'oi Joana' to 5511987654321", status_code=400)
    assert describe_error(error) == "ZApiRejected: HTTP 400"


def test_our_own_words_are_kept_with_identifiers_masked() -> None:
    from seleto_agent.agents.runner import AgentRunFailed
    from seleto_agent.observability.errors import describe_error

    error = AgentRunFailed("agent run ended with status error for 5511987654321")
    assert describe_error(error) == "AgentRunFailed: agent run ended with status error for ***4321"


def test_a_safe_traceback_has_the_frames_and_no_message() -> None:
    from seleto_agent.observability.errors import safe_traceback

    name, email = "Joana Prado", "joao.silva@example.com"
    try:
        try:
            {}[name]
        except KeyError as exc:
            raise RuntimeError(f"while reading {email}") from exc
    except RuntimeError as caught:
        rendered = safe_traceback(caught)
    assert "test_a_safe_traceback_has_the_frames_and_no_message" in rendered
    assert "KeyError at test_redaction.py" in rendered
    assert "RuntimeError at test_redaction.py" in rendered
    assert "Joana" not in rendered
    assert "joao.silva" not in rendered
