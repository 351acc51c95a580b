"""Fixed catalogue of the PipeRun simulator (TEST/SANDBOX ONLY): cities, funnels, origins, users.

Shapes follow the official examples in contracts/fixtures/piperun/*_list_200.json. The funnel
and origin ids are the client's (DOMAIN.md, PRD §13.5); Porto Alegre 4904 is PipeRun's own
example; the other city ids are made up but in the same range.
"""

from __future__ import annotations

from typing import Any

JsonDict = dict[str, Any]

ACCOUNT_ID = 11028
SDR_PIPELINE_ID = 100848
SDR_NEW_LEAD_STAGE_ID = 647558
SALES_PIPELINE_ID = 100849
WHATSAPP_ORIGIN_ID = 556735
ADMIN_USER_ID = 42001
SDR_USER_ID = 42002

_SEED_TIME = "2024-03-04 09:15:00"

# (id, uf, name). Two "Bom Jesus" in different states: PipeRun's city names are not unique.
_CITIES: tuple[tuple[int, str, str], ...] = (
    (4904, "RS", "Porto Alegre"),
    (4783, "RS", "Bom Jesus"),
    (4611, "SC", "Chapecó"),
    (4669, "SC", "Joinville"),
    (4626, "SC", "Florianópolis"),
    (4687, "SC", "São José"),
    (5270, "SP", "São Paulo"),
    (4871, "SP", "Campinas"),
    (5166, "SP", "Ribeirão Preto"),
    (2308, "MG", "Belo Horizonte"),
    (4006, "PR", "Curitiba"),
    (1058, "GO", "Goiânia"),
    (3506, "PI", "Bom Jesus"),
)

# (pipeline id, name, is_main, stages as (id, name))
_FUNNELS: tuple[tuple[int, str, bool, tuple[tuple[int, str], ...]], ...] = (
    (
        SDR_PIPELINE_ID,
        "Funil SDR",
        True,
        (
            (SDR_NEW_LEAD_STAGE_ID, "LEAD NOVO SDR"),
            (647559, "EM QUALIFICAÇÃO"),
            (647560, "QUALIFICADO"),
        ),
    ),
    (
        SALES_PIPELINE_ID,
        "Vendas",
        False,
        ((647600, "Proposta enviada"), (647601, "Negociação"), (647602, "Fechamento")),
    ),
)

_ORIGINS: tuple[tuple[int, str], ...] = (
    (535712, "Facebook"),
    (535713, "Instagram"),
    (545920, "Neurologic"),
    (556694, "Site"),
    (WHATSAPP_ORIGIN_ID, "WhatsApp"),
    (629282, "Contato do Site"),
    (638648, "Ação Marketing"),
)

# (id, name, e-mail, active); reserved example.com addresses, never real people.
_USERS: tuple[tuple[int, str, str, int], ...] = (
    (ADMIN_USER_ID, "Admin Seleto", "admin@seleto.example.com", 1),
    (SDR_USER_ID, "SDR Seleto", "sdr@seleto.example.com", 1),
    (42003, "Vendedor Antigo", "antigo@seleto.example.com", 0),
)

# (id, name, type, belongs): belongs 1 deal, 2 person, 3 company (piperun.md §4.3).
_CUSTOM_FIELDS: tuple[tuple[int, str, int, int], ...] = (
    (130609, "Formação profissional", 1, 2),
    (174738, "Número de funcionários", 1, 3),
    (394863, "Produto de interesse", 1, 1),
    (394864, "Volume diário estimado", 5, 1),
)


def _hash(prefix: str, value: int) -> str:
    return f"{prefix}{value:x}".ljust(32, "0")[:32]


def cities() -> list[JsonDict]:
    return [{"id": id_, "uf": uf, "name": name} for id_, uf, name in _CITIES]


def pipelines() -> list[JsonDict]:
    return [
        {
            "id": pipeline_id,
            "account_id": ACCOUNT_ID,
            "funnel_type": 0,
            "user_id": ADMIN_USER_ID,
            "name": name,
            "description": None,
            "funnel_type_name": "Vendas",
            "order": order,
            "is_main": is_main,
            "limit_time": 0,
            "visibility": 0,
            "created_at": _SEED_TIME,
            "updated_at": _SEED_TIME,
        }
        for order, (pipeline_id, name, is_main, _stages) in enumerate(_FUNNELS)
    ]


def stages() -> list[JsonDict]:
    return [
        {
            "id": stage_id,
            "account_id": ACCOUNT_ID,
            "pipeline_id": pipeline_id,
            "origin_id": None,
            "name": name,
            "description": None,
            "order": order,
            "color": "rgb(103, 106, 108)",
            "completion_percentage": 0,
            "block_emails": 0,
            "days_limit": 0,
            "update_limit": 0,
            "hash": _hash("st", stage_id),
            "allow_win_deal": True,
            "allow_create_deal": True,
            "created_at": _SEED_TIME,
            "updated_at": _SEED_TIME,
        }
        for pipeline_id, _name, _main, funnel_stages in _FUNNELS
        for order, (stage_id, name) in enumerate(funnel_stages, start=1)
    ]


def origins() -> list[JsonDict]:
    return [
        {
            "id": origin_id,
            "account_id": ACCOUNT_ID,
            "origin_group_id": None,
            "name": name,
            "hash": _hash("or", origin_id),
            "description": None,
            "active": 1,
        }
        for origin_id, name in _ORIGINS
    ]


def users() -> list[JsonDict]:
    return [
        {
            "id": user_id,
            "email": email,
            "account_id": ACCOUNT_ID,
            "pipeline_id": SDR_PIPELINE_ID,
            "name": name,
            "hash": _hash("us", user_id),
            "active": active,
            "created_at": _SEED_TIME,
            "updated_at": _SEED_TIME,
        }
        for user_id, name, email, active in _USERS
    ]


def custom_fields() -> list[JsonDict]:
    return [
        {
            "id": field_id,
            "name": name,
            "description": None,
            "account_id": ACCOUNT_ID,
            "type": type_,
            "hash": _hash("cf", field_id),
            "belongs": belongs,
            "values": None,
        }
        for field_id, name, type_, belongs in _CUSTOM_FIELDS
    ]
