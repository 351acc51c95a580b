"""The Cloud API simulator's Graph rules: auth, validation, window, pacing, faults, media."""

from __future__ import annotations

from typing import Any

import httpx

from tests.sandbox.sandbox_helpers import CONFIG

VERSION = "v25.0"
MESSAGES = f"/{VERSION}/{CONFIG.meta_phone_number_id}/messages"
AUTH = {"Authorization": f"Bearer {CONFIG.meta_access_token}"}
PHONE = "5511987654321"
BSUID = "BR.1502576394655843"


def text(to: str = PHONE, body: str = "oi", **extra: Any) -> dict[str, Any]:
    return {"messaging_product": "whatsapp", "to": to, "type": "text", "text": {"body": body}} | (
        extra
    )


def template(name: str = "retomada_conversa", params: int = 1, **address: str) -> dict[str, Any]:
    parameters = [{"type": "text", "text": "Maria"}] * params
    return {
        "messaging_product": "whatsapp",
        **(address or {"to": PHONE}),
        "type": "template",
        "template": {
            "name": name,
            "language": {"policy": "deterministic", "code": "pt_BR"},
            "components": [{"type": "body", "parameters": parameters}],
        },
    }


async def control(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/_sandbox/meta/{path}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def window(client: httpx.AsyncClient, user: str = PHONE, hours_ago: float = 1) -> None:
    await control(client, "window", {"user": user, "hours_ago": hours_ago})


async def send(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(MESSAGES, json=body, headers=AUTH)


def error_code(response: httpx.Response) -> int:
    code: int = response.json()["error"]["code"]
    return code


async def test_no_or_wrong_bearer_is_401_code_190(client: httpx.AsyncClient) -> None:
    missing = await client.post(MESSAGES, json=text())
    wrong = await client.post(MESSAGES, json=text(), headers={"Authorization": "Bearer nope"})
    for response in (missing, wrong):
        assert response.status_code == 401
        assert error_code(response) == 190
        assert set(response.json()["error"]) >= {"message", "type", "code", "fbtrace_id"}


async def test_an_unknown_phone_number_id_is_graphs_unknown_object(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(f"/{VERSION}/999/messages", json=text(), headers=AUTH)
    assert response.status_code == 400
    assert (response.json()["error"]["code"], response.json()["error"]["error_subcode"]) == (
        100,
        33,
    )


async def test_messaging_product_is_required(client: httpx.AsyncClient) -> None:
    await window(client)
    body = text()
    del body["messaging_product"]
    response = await send(client, body)
    assert response.status_code == 400
    assert error_code(response) == 100


async def test_accepted_send_answers_contacts_and_an_accepted_wamid(
    client: httpx.AsyncClient,
) -> None:
    await window(client)
    response = await send(client, text(to=f"+{PHONE}"))
    assert response.status_code == 200
    body = response.json()
    assert body["contacts"] == [{"input": f"+{PHONE}", "wa_id": PHONE}]
    [message] = body["messages"]
    assert message["id"].startswith("wamid.")
    assert message["message_status"] == "accepted"
    await control(client, "faults", {"held_for_quality": True, "pair_gap_seconds": 0})
    held = (await send(client, text())).json()["messages"][0]["message_status"]
    assert held == "held_for_quality_assessment"


async def test_free_form_needs_an_inbound_within_24_h_templates_do_not(
    client: httpx.AsyncClient,
) -> None:
    await control(client, "faults", {"pair_gap_seconds": 0})
    never_wrote = await send(client, text())
    assert (never_wrote.status_code, error_code(never_wrote)) == (400, 131047)
    await window(client, hours_ago=23)
    assert (await send(client, text())).status_code == 200
    await control(client, "clock", {"advance_seconds": 3600})
    closed = await send(client, text())
    assert error_code(closed) == 131047
    assert (await send(client, template())).status_code == 200


async def test_the_known_issue_mode_refuses_free_form_inside_the_window(
    client: httpx.AsyncClient,
) -> None:
    await window(client)
    await control(client, "faults", {"window_known_issue_probability": 1.0})
    assert error_code(await send(client, text())) == 131047
    assert (await send(client, template())).status_code == 200


async def test_pair_rate_limits_a_second_message_to_one_user_within_6_s(
    client: httpx.AsyncClient,
) -> None:
    await window(client)
    await window(client, "5511900000000")
    assert (await send(client, text())).status_code == 200
    again = await send(client, text())
    assert (again.status_code, error_code(again)) == (400, 131056)
    # Another user is not affected, and six seconds later the first one is free again.
    assert (await send(client, text(to="5511900000000"))).status_code == 200
    await control(client, "clock", {"advance_seconds": 6})
    assert (await send(client, text())).status_code == 200


async def test_throughput_over_n_per_second_is_130429(client: httpx.AsyncClient) -> None:
    await control(client, "faults", {"throughput_per_second": 2, "enforce_window": False})
    answers = [await send(client, text(to=f"55119000000{i:02d}")) for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert error_code(answers[2]) == 130429
    await control(client, "clock", {"advance_seconds": 1})
    assert (await send(client, text(to="5511900000099"))).status_code == 200


async def test_scripted_faults_answer_graph_errors(client: httpx.AsyncClient) -> None:
    await control(
        client,
        "faults",
        {
            "enforce_window": False,
            "pair_gap_seconds": 0,
            "messages": [
                {"status": 429, "code": 130429, "retry_after": 2},
                {"status": 500, "code": 131000},
                {"status": 400, "code": 100},
            ],
        },
    )
    limited, broken, bad = [await send(client, text()) for _ in range(3)]
    assert (limited.status_code, error_code(limited), limited.headers["retry-after"]) == (
        429,
        130429,
        "2",
    )
    assert (broken.status_code, error_code(broken)) == (500, 131000)
    assert (bad.status_code, error_code(bad)) == (400, 100)
    assert (await send(client, text())).status_code == 200


async def test_a_bsuid_in_recipient_is_accepted_and_in_to_silently_vanishes(
    client: httpx.AsyncClient,
) -> None:
    await window(client, BSUID)
    body = text()
    del body["to"]
    proper = await send(client, body | {"recipient": BSUID})
    assert proper.status_code == 200
    assert proper.json()["contacts"] == [{"input": BSUID, "user_id": BSUID}]
    misplaced = await send(client, text(to="BR.99999"))
    assert misplaced.status_code == 200
    calls = (await client.get("/_sandbox/state")).json()["meta"]["calls"]
    assert [c["vanished"] for c in calls] == [False, True]
    not_a_bsuid = await send(client, body | {"recipient": PHONE})
    assert error_code(not_a_bsuid) == 100


async def test_template_rules(client: httpx.AsyncClient) -> None:
    assert error_code(await send(client, template(name="nao_existe"))) == 132001
    assert error_code(await send(client, template(params=2))) == 132000
    to_bsuid = await send(client, template(name="codigo_acesso", recipient=BSUID))
    assert error_code(to_bsuid) == 131062
    await control(client, "templates", {"name": "novo_modelo", "body_params": 0})
    assert (await send(client, template(name="novo_modelo", params=0))).status_code == 200


async def test_mark_read_with_and_without_typing(client: httpx.AsyncClient) -> None:
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": "wamid.x"}
    assert (await send(client, read)).json() == {"success": True}
    typing = await send(client, read | {"typing_indicator": {"type": "text"}})
    assert typing.json() == {"success": True}
    wrong = await send(client, read | {"typing_indicator": {"type": "audio"}})
    assert error_code(wrong) == 100


async def put_media(client: httpx.AsyncClient, media_id: str, data: bytes) -> None:
    response = await client.put(
        f"/_sandbox/meta/media/{media_id}", content=data, headers={"content-type": "audio/ogg"}
    )
    assert response.status_code == 200


async def test_media_url_needs_the_token_and_expires_after_5_minutes(
    client: httpx.AsyncClient,
) -> None:
    await put_media(client, "123", b"OggS-bytes")
    assert (await client.get(f"/{VERSION}/123")).status_code == 401
    metadata = (await client.get(f"/{VERSION}/123", headers=AUTH)).json()
    assert set(metadata) == {"messaging_product", "url", "mime_type", "sha256", "file_size", "id"}
    path = metadata["url"].removeprefix(CONFIG.public_base_url)
    assert (await client.get(path)).status_code == 401
    download = await client.get(path, headers=AUTH)
    assert (download.status_code, download.content) == (200, b"OggS-bytes")
    await control(client, "clock", {"advance_seconds": 301})
    assert (await client.get(path, headers=AUTH)).status_code == 404
    # A fresh URL from the media id works again.
    fresh = (await client.get(f"/{VERSION}/123", headers=AUTH)).json()["url"]
    path = fresh.removeprefix(CONFIG.public_base_url)
    assert (await client.get(path, headers=AUTH)).status_code == 200


async def test_a_media_id_expires_after_7_days_and_unknown_ids_are_404(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get(f"/{VERSION}/404404", headers=AUTH)).status_code == 404
    await put_media(client, "777", b"OggS")
    await control(client, "clock", {"advance_seconds": 6 * 24 * 3600})
    assert (await client.get(f"/{VERSION}/777", headers=AUTH)).status_code == 200
    await control(client, "clock", {"advance_seconds": 24 * 3600 + 1})
    assert (await client.get(f"/{VERSION}/777", headers=AUTH)).status_code == 404


async def test_other_simulators_v1_paths_are_not_graph_paths(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/not-a-route")
    assert response.status_code == 404
    assert "error" not in response.json()


async def test_reset_clears_the_cloud_api_state(client: httpx.AsyncClient) -> None:
    await window(client)
    await send(client, text())
    await client.post("/_sandbox/reset", json={})
    meta = (await client.get("/_sandbox/state")).json()["meta"]
    assert meta["calls"] == []
    assert meta["last_inbound"] == {}
