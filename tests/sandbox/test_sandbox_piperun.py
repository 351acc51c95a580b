"""PipeRun simulator faithfulness (contracts/piperun.md §6), driven in-process over ASGI."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.sandbox.sandbox_helpers import CONFIG

TOKEN = {"token": CONFIG.piperun_token}
SDR_PIPELINE, NEW_LEAD_STAGE, SALES_STAGE = 100848, 647558, 647600
CNPJ_MASKED, CNPJ_DIGITS = "11.222.333/0001-81", "11222333000181"
CNPJ_ALPHA_MASKED = "12.ABC.345/01DE-35"


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/v1{path}", json=body, headers=TOKEN)


async def _get(client: httpx.AsyncClient, path: str, **params: Any) -> httpx.Response:
    return await client.get(f"/v1{path}", params=params, headers=TOKEN)


async def _faults(client: httpx.AsyncClient, *queue: dict[str, Any], **knobs: Any) -> None:
    response = await client.post("/_sandbox/piperun/faults", json={"queue": list(queue), **knobs})
    assert response.status_code == 200, response.text


async def _state(client: httpx.AsyncClient) -> dict[str, Any]:
    body: dict[str, Any] = (await client.get("/_sandbox/piperun/state")).json()
    return body


async def test_missing_or_wrong_token_is_401_and_header_name_is_case_insensitive(
    client: httpx.AsyncClient,
) -> None:
    missing = await client.get("/v1/pipelines")
    wrong = await client.get("/v1/pipelines", headers={"token": "f" * 32})
    assert missing.status_code == wrong.status_code == 401
    assert missing.json() == {"success": False, "message": "Unauthenticated"}
    upper = await client.get("/v1/pipelines", headers={"Token": CONFIG.piperun_token})
    assert upper.status_code == 200


async def test_company_create_answers_an_array_and_update_an_object(
    client: httpx.AsyncClient,
) -> None:
    created = await _post(
        client,
        "/companies",
        {
            "name": "Laticínios Serra",
            "cnpj": CNPJ_MASKED,
            "city_id": 4904,
            "contactEmails": [{"email": "compras@serra.example.com"}],
            "contactPhones": [{"phone": "(51)3212-00-00"}],
            "unknownField": "ignored",
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["success"], body["message"]) == (True, "Created")
    [company] = body["data"]
    assert company["name"] == "Laticínios Serra"
    assert company["city"] == {"id": 4904, "uf": "RS", "name": "Porto Alegre"}
    assert [c["email"] for c in company["contact_emails"]] == ["compras@serra.example.com"]
    assert [c["phone"] for c in company["contact_phones"]] == ["(51)3212-00-00"]
    assert len(company["hash"]) == 32
    assert len(company["created_at"]) == len("2020-08-17 10:21:50")
    assert "unknownField" not in company

    updated = await client.put(
        f"/v1/companies/{company['id']}", json={"website": "serra.example.com"}, headers=TOKEN
    )
    assert updated.status_code == 200
    assert updated.json()["message"] == "OK"
    assert updated.json()["data"]["website"] == "serra.example.com"
    assert updated.json()["data"]["name"] == "Laticínios Serra"

    person = await _post(client, "/persons", {"name": "Ana", "company_id": company["id"]})
    assert person.status_code == 201
    assert isinstance(person.json()["data"], dict)


async def test_person_contacts_are_strings_as_the_schema_says(client: httpx.AsyncClient) -> None:
    # vendors.md #5: POST/PUT /persons declare `items: {type: string}` (the example's objects
    # contradict the schema, and the schema is the contract).
    created = await _post(
        client,
        "/persons",
        {"name": "Ana", "contactPhones": ["(49) 99988-7766"], "contactEmails": ["ana@x.com.br"]},
    )
    assert created.status_code == 201
    person = created.json()["data"]
    assert [c["phone"] for c in person["contact_phones"]] == ["(49) 99988-7766"]
    assert [c["email"] for c in person["contact_emails"]] == ["ana@x.com.br"]
    assert person["contact_phones"][0]["person_id"] == person["id"]

    as_objects = await _post(
        client, "/persons", {"name": "Rui", "contactPhones": [{"phone": "(49) 3322-1100"}]}
    )
    assert as_objects.status_code == 422
    assert as_objects.json()["data"] == {
        "contactPhones.0": "O campo contactPhones.0 deve ser uma string."
    }
    update = await client.put(
        f"/v1/persons/{person['id']}",
        json={"contactEmails": [{"email": "outro@x.com.br"}]},
        headers=TOKEN,
    )
    assert update.status_code == 422
    assert set(update.json()["data"]) == {"contactEmails.0"}
    assert [p["name"] for p in (await _state(client))["persons"]] == ["Ana"]


async def test_person_contact_items_knob_models_the_example_reading(
    client: httpx.AsyncClient,
) -> None:
    # The other reading of the GAP: objects as in the persons example, strings dropped.
    await _faults(client, person_contact_items="objects")
    person = (
        await _post(
            client,
            "/persons",
            {"name": "Ana", "contactPhones": ["(49) 99988-7766"], "contactEmails": ["a@x.com"]},
        )
    ).json()["data"]
    assert (person["contact_phones"], person["contact_emails"]) == ([], [])
    other = await _post(
        client, "/persons", {"name": "Rui", "contactPhones": [{"phone": "(49) 3322-1100"}]}
    )
    assert [c["phone"] for c in other.json()["data"]["contact_phones"]] == ["(49) 3322-1100"]


@pytest.mark.parametrize(
    ("semantics", "phones"),
    [("append", ["(49) 99988-7766", "(49) 3322-1100"]), ("replace", ["(49) 3322-1100"])],
)
async def test_contact_lists_on_put_knob_appends_or_replaces(
    client: httpx.AsyncClient, semantics: str, phones: list[str]
) -> None:
    await _faults(client, contact_lists_on_put=semantics)
    body = {"name": "Ana", "contactPhones": ["(49) 99988-7766"], "contactEmails": ["a@x.com"]}
    person = (await _post(client, "/persons", body)).json()["data"]
    updated = await client.put(
        f"/v1/persons/{person['id']}", json={"contactPhones": ["(49) 3322-1100"]}, headers=TOKEN
    )
    assert [c["phone"] for c in updated.json()["data"]["contact_phones"]] == phones
    # A list left out of the PUT is kept, whatever the semantics.
    assert [c["email"] for c in updated.json()["data"]["contact_emails"]] == ["a@x.com"]


@pytest.mark.parametrize(
    ("path", "body", "errors"),
    [
        ("/companies", {}, {"name": "O campo name é obrigatório."}),
        ("/persons", {"name": ""}, {"name": "O campo name é obrigatório."}),
        (
            "/deals",
            {"title": "Lead"},
            {
                "pipeline_id": "O campo pipeline id é obrigatório.",
                "stage_id": "O campo stage id é obrigatório.",
            },
        ),
        (
            "/deals",
            {"pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE},
            {"title": "O campo title é obrigatório."},
        ),
        ("/notes", {"deal_id": None}, {"text": "O campo text é obrigatório."}),
        (
            "/companies",
            {"name": "X", "city_id": 999999},
            {"city_id": "O campo city id selecionado é inválido."},
        ),
    ],
)
async def test_validation_errors_answer_422_with_a_string_per_field(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], errors: dict[str, str]
) -> None:
    response = await _post(client, path, body)
    assert response.status_code == 422
    assert response.json() == {
        "success": False,
        "message": "Unprocessable Entity",
        "data": errors,
    }


async def test_duplicate_cpf_answers_422_with_an_array_on_create_and_update(
    client: httpx.AsyncClient,
) -> None:
    expected = {
        "success": False,
        "message": "Unprocessable Content",
        "data": {"cpf": ["O CPF que você está tentando cadastrar já existe."]},
    }
    assert (
        await _post(client, "/persons", {"name": "A", "cpf": "708.901.040-69"})
    ).status_code == 201
    duplicate = await _post(client, "/persons", {"name": "B", "cpf": "70890104069"})
    assert (duplicate.status_code, duplicate.json()) == (422, expected)

    other = (await _post(client, "/persons", {"name": "C"})).json()["data"]
    clash = await client.put(
        f"/v1/persons/{other['id']}", json={"cpf": "70890104069"}, headers=TOKEN
    )
    assert (clash.status_code, clash.json()) == (422, expected)


async def test_unparsable_body_answers_malformed_json(client: httpx.AsyncClient) -> None:
    deal = await _post(
        client, "/deals", {"title": "T", "pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE}
    )
    response = await client.put(
        f"/v1/deals/{deal.json()['data']['id']}",
        content=b'{"title": "cut',
        headers={**TOKEN, "content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json() == {"success": False, "message": "Malformed JSON."}


async def test_stage_of_another_pipeline_is_refused_unless_the_knob_is_off(
    client: httpx.AsyncClient,
) -> None:
    body = {"title": "T", "pipeline_id": SDR_PIPELINE, "stage_id": SALES_STAGE}
    refused = await _post(client, "/deals", body)
    assert refused.status_code == 422
    assert set(refused.json()["data"]) == {"stage_id"}
    await _faults(client, stage_must_match_pipeline=False)
    assert (await _post(client, "/deals", body)).status_code == 201


async def test_cursor_pagination_walks_three_pages(client: httpx.AsyncClient) -> None:
    ids = [
        (await _post(client, "/companies", {"name": f"Empresa {i}"})).json()["data"][0]["id"]
        for i in range(5)
    ]
    seen: list[int] = []
    cursors: list[str | None] = []
    cursor = ""
    for _ in range(3):
        body = (await _get(client, "/companies", show=2, cursor=cursor)).json()
        seen += [item["id"] for item in body["data"]]
        meta = body["meta"]["cursor"]
        assert set(meta) == {"current", "prev", "next", "count"}
        cursors.append(meta["next"])
        cursor = meta["next"] or ""
    assert seen == ids
    assert cursors[2] is None
    # Opaque, Laravel-style: URL-safe base64 JSON of the last id.
    first = cursors[0]
    assert first is not None
    decoded = json.loads(base64.urlsafe_b64decode(first + "=" * (-len(first) % 4)))
    assert decoded == {"id": ids[1], "_pointsToNextItems": True}

    legacy_start = (await _get(client, "/companies", show=2, cursor="1")).json()
    assert [item["id"] for item in legacy_start["data"]] == ids[:2]
    assert len((await _get(client, "/companies")).json()["data"]) == 5  # default 15
    assert len((await _get(client, "/companies", show=0)).json()["data"]) == 1
    assert len((await _get(client, "/companies", show=500)).json()["data"]) == 5


async def test_trailing_cursor_knob_ends_with_an_empty_page_naming_its_cursor_again(
    client: httpx.AsyncClient,
) -> None:
    for i in range(3):
        await _post(client, "/companies", {"name": f"Empresa {i}"})
    await _faults(client, trailing_cursor=True)
    first = (await _get(client, "/companies", show=2, cursor="")).json()
    last = (await _get(client, "/companies", show=2, cursor=first["meta"]["cursor"]["next"])).json()
    assert len(last["data"]) == 1
    trailing = last["meta"]["cursor"]["next"]
    assert trailing is not None
    empty = (await _get(client, "/companies", show=2, cursor=trailing)).json()
    assert empty["data"] == []
    assert empty["meta"]["cursor"]["next"] == trailing
    await _faults(client, trailing_cursor=False)
    again = await _get(client, "/companies", show=2, cursor=first["meta"]["cursor"]["next"])
    assert again.json()["meta"]["cursor"]["next"] is None


@pytest.mark.parametrize(
    ("stored", "query"), [(CNPJ_MASKED, CNPJ_DIGITS), (CNPJ_DIGITS, CNPJ_MASKED)]
)
async def test_cnpj_filter_ignores_the_mask(
    client: httpx.AsyncClient, stored: str, query: str
) -> None:
    await _post(client, "/companies", {"name": "Alvo", "cnpj": stored})
    await _post(client, "/companies", {"name": "Outra", "cnpj": "99.888.777/0001-66"})
    found = (await _get(client, "/companies", cnpj=query)).json()["data"]
    assert [company["name"] for company in found] == ["Alvo"]


@pytest.mark.parametrize("query", [CNPJ_ALPHA_MASKED, "12ABC34501DE35", "1122233300018", "x"])
async def test_a_cnpj_filter_outside_the_documented_formats_is_ignored(
    client: httpx.AsyncClient, query: str
) -> None:
    # vendors.md #9: only "XXXXXXXX0001XX" and "XX.XXX.XXX/0001-XX" are documented; like an
    # empty filter, a value PipeRun cannot parse is dropped and every company comes back.
    await _post(client, "/companies", {"name": "Alvo", "cnpj": CNPJ_MASKED})
    await _post(client, "/companies", {"name": "Outra", "cnpj": "99.888.777/0001-66"})
    await _post(client, "/companies", {"name": "Sem CNPJ"})
    found = (await _get(client, "/companies", cnpj=query)).json()["data"]
    assert [company["name"] for company in found] == ["Alvo", "Outra", "Sem CNPJ"]


async def test_an_alphanumeric_cnpj_is_refused_unless_the_knob_says_piperun_learned_it(
    client: httpx.AsyncClient,
) -> None:
    refused = await _post(client, "/companies", {"name": "Nova", "cnpj": CNPJ_ALPHA_MASKED})
    assert refused.status_code == 422
    assert refused.json()["data"] == {"cnpj": "O campo cnpj não é um CNPJ válido."}
    company = (await _post(client, "/companies", {"name": "Nova"})).json()["data"][0]
    update = await client.put(
        f"/v1/companies/{company['id']}", json={"cnpj": "12ABC34501DE35"}, headers=TOKEN
    )
    assert set(update.json()["data"]) == {"cnpj"}

    await _faults(client, alphanumeric_cnpj=True)
    accepted = await _post(client, "/companies", {"name": "Alvo", "cnpj": CNPJ_ALPHA_MASKED})
    assert accepted.status_code == 201
    found = (await _get(client, "/companies", cnpj="12abc34501de35")).json()["data"]
    assert [c["name"] for c in found] == ["Alvo"]


async def test_same_post_twice_creates_two_records(client: httpx.AsyncClient) -> None:
    body = {"name": "Repetida", "cnpj": CNPJ_DIGITS}
    first = (await _post(client, "/companies", body)).json()["data"][0]
    second = (await _post(client, "/companies", body)).json()["data"][0]
    assert first["id"] != second["id"]
    assert len((await _get(client, "/companies", cnpj=CNPJ_DIGITS)).json()["data"]) == 2


async def test_filters_by_person_pipeline_status_and_deal(client: httpx.AsyncClient) -> None:
    person = (await _post(client, "/persons", {"name": "Rui"})).json()["data"]
    deal_body = {"title": "T", "pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE}
    deal = (await _post(client, "/deals", {**deal_body, "person_id": person["id"]})).json()["data"]
    await _post(client, "/deals", deal_body)
    await _post(client, "/notes", {"text": "nota", "deal_id": deal["id"]})
    await _post(client, "/notes", {"text": "solta"})

    open_deals = await _get(
        client, "/deals", person_id=person["id"], pipeline_id=SDR_PIPELINE, status=0
    )
    assert [d["id"] for d in open_deals.json()["data"]] == [deal["id"]]
    notes = (await _get(client, "/notes", deal_id=deal["id"])).json()["data"]
    assert [n["text"] for n in notes] == ["nota"]
    assert notes[0]["user_name"] == "Admin Seleto"
    # Laravel ignores filters it does not know: `reference` lists every deal (piperun.md §4.3).
    assert len((await _get(client, "/deals", reference="x")).json()["data"]) == 2


async def test_cities_match_name_and_uf_ignoring_case_and_accents(
    client: httpx.AsyncClient,
) -> None:
    found = (await _get(client, "/cities", name="chapeco", uf="sc")).json()["data"]
    assert found == [{"id": 4611, "uf": "SC", "name": "Chapecó"}]
    assert (await _get(client, "/cities", name="Chape", uf="SC")).json()["data"] == []
    shown = await _get(client, "/cities/4904")
    assert shown.json()["data"] == {"id": 4904, "uf": "RS", "name": "Porto Alegre"}
    missing = await _get(client, "/cities/1")
    assert (missing.status_code, missing.json()["message"]) == (404, "No query results for model.")
    other = await _get(client, "/deals/1")
    assert (other.status_code, other.json()) == (404, {"success": False, "message": "Not Found"})


async def test_rate_limit_answers_429_with_retry_after(client: httpx.AsyncClient) -> None:
    await _faults(client, rate_limit_per_minute=2)
    assert (await _get(client, "/origins")).status_code == 200
    assert (await _get(client, "/origins")).status_code == 200
    limited = await _get(client, "/origins")
    assert limited.status_code == 429
    assert limited.json() == {"success": False, "message": "Too Many Attempts."}
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    await _faults(client, rate_limit_per_minute=None)
    assert (await _get(client, "/origins")).status_code == 200


async def test_fault_queue_is_consumed_in_order_by_method_and_path(
    client: httpx.AsyncClient,
) -> None:
    await _faults(
        client,
        {"method": "GET", "path": "/companies", "status": 503, "times": 2},
        {"method": "GET", "path": "/companies", "status": 502},
        {"method": "POST", "path": "/v1/deals", "status": 500},
    )
    # Other methods and paths are untouched.
    assert (await _post(client, "/companies", {"name": "X"})).status_code == 201
    assert (await _get(client, "/pipelines")).status_code == 200
    responses = [await _get(client, "/companies", name="X") for _ in range(4)]
    assert [r.status_code for r in responses] == [503, 503, 502, 200]
    assert responses[0].json() == {"success": False, "message": "Service Unavailable"}
    assert "<title>502 Bad Gateway</title>" in responses[2].text
    body = {"title": "T", "pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE}
    failed = await _post(client, "/deals", body)
    assert (failed.status_code, failed.json()["message"]) == (500, "Server Error")
    assert (await _state(client))["deals"] == []


async def test_gateway_errors_are_html(client: httpx.AsyncClient) -> None:
    await _faults(client, {"status": 504})
    response = await _get(client, "/users")
    assert response.status_code == 504
    assert response.headers["content-type"].startswith("text/html")
    assert "<title>504 Gateway Timeout</title>" in response.text


async def test_after_commit_fault_creates_the_record_then_fails(
    client: httpx.AsyncClient,
) -> None:
    await _faults(
        client, {"method": "POST", "path": "/companies", "status": 503, "after_commit": True}
    )
    response = await _post(client, "/companies", {"name": "Criada mesmo assim"})
    assert response.status_code == 503
    [company] = (await _state(client))["companies"]
    assert company["name"] == "Criada mesmo assim"


async def test_truncated_fault_cuts_the_json_of_a_real_answer(client: httpx.AsyncClient) -> None:
    await _faults(client, {"method": "POST", "path": "/persons", "truncated": True})
    response = await _post(client, "/persons", {"name": "Cortada"})
    assert response.status_code == 201
    with pytest.raises(json.JSONDecodeError, match=r"Unterminated|Expecting"):
        json.loads(response.text)
    assert len((await _state(client))["persons"]) == 1


async def test_down_mode_answers_503_until_turned_off(client: httpx.AsyncClient) -> None:
    await _faults(client, down=True)
    assert (await _get(client, "/pipelines")).status_code == 503
    assert (await _post(client, "/companies", {"name": "X"})).status_code == 503
    await _faults(client, down=False)
    assert (await _get(client, "/pipelines")).status_code == 200
    assert (await _state(client))["companies"] == []


async def test_requests_are_logged_with_the_token_redacted(client: httpx.AsyncClient) -> None:
    await _post(client, "/companies", {"name": "Logada"})
    await _get(client, "/companies", cnpj=CNPJ_DIGITS)
    await client.get("/v1/companies")
    requests = (await _state(client))["requests"]
    assert [(r["method"], r["path"], r["status_code"]) for r in requests] == [
        ("POST", "/v1/companies", 201),
        ("GET", "/v1/companies", 200),
        ("GET", "/v1/companies", 401),
    ]
    assert requests[0]["body"] == {"name": "Logada"}
    assert requests[1]["query"] == {"cnpj": CNPJ_DIGITS}
    assert requests[0]["headers"]["token"] == "<redacted>"
    assert CONFIG.piperun_token not in json.dumps(requests)


async def test_seed_route_and_reset(client: httpx.AsyncClient) -> None:
    seeded = await client.post(
        "/_sandbox/piperun/seed/companies", json={"name": "Antiga", "cnpj": CNPJ_MASKED}
    )
    assert seeded.status_code == 200
    assert seeded.json()["cnpj"] == CNPJ_MASKED
    invalid = await client.post("/_sandbox/piperun/seed/companies", json={})
    assert invalid.status_code == 422
    found = (await _get(client, "/companies", cnpj=CNPJ_DIGITS)).json()["data"]
    assert [c["id"] for c in found] == [seeded.json()["id"]]
    assert len((await _state(client))["requests"]) == 1  # seeding is not a PipeRun call

    await client.post("/_sandbox/piperun/reset")
    state = await _state(client)
    assert state["companies"] == state["requests"] == []
    assert state["faults"]["rate_limit_per_minute"] == 100


async def test_lookup_lists_hold_the_client_ids(client: httpx.AsyncClient) -> None:
    stages = (await _get(client, "/stages", pipeline_id=SDR_PIPELINE)).json()["data"]
    assert {"id": NEW_LEAD_STAGE, "name": "LEAD NOVO SDR"}.items() <= stages[0].items()
    assert all(stage["pipeline_id"] == SDR_PIPELINE for stage in stages)
    origins = {o["name"]: o["id"] for o in (await _get(client, "/origins")).json()["data"]}
    assert origins["WhatsApp"] == 556735
    fields = (await _get(client, "/customFields", belongs=1)).json()["data"]
    assert fields
    assert {field["belongs"] for field in fields} == {1}


@pytest.mark.parametrize("resource", ["persons", "notes", "companies", "deals"])
async def test_delete_answers_204_without_a_body_then_404(
    client: httpx.AsyncClient, resource: str
) -> None:
    bodies = {
        "persons": {"name": "Ana"},
        "notes": {"text": "nota"},
        "companies": {"name": "Laticínios Serra"},
        "deals": {"pipeline_id": SDR_PIPELINE, "stage_id": NEW_LEAD_STAGE, "title": "Lead"},
    }
    created = (await _post(client, f"/{resource}", bodies[resource])).json()["data"]
    record_id = (created[0] if isinstance(created, list) else created)["id"]

    deleted = await client.delete(f"/v1/{resource}/{record_id}", headers=TOKEN)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert (await _state(client))[resource] == []
    again = await client.delete(f"/v1/{resource}/{record_id}", headers=TOKEN)
    assert again.status_code == 404
    assert again.json() == {"success": False, "message": "Not Found"}
    unauthenticated = await client.delete(f"/v1/{resource}/{record_id}")
    assert unauthenticated.status_code == 401
