"""A CNPJ belongs to the lead who registered it first (redteam L3): another lead typing it gets
a link, never the company record; both databases."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from seleto_agent.db.repositories.companies import CompanyRepository
from seleto_agent.db.tables import audit_log, empresa, handoffs, leads
from tests.concurrency.helpers import add_conversations, engine_for, lead_service

CNPJ = "11.222.333/0001-81"
SHARED_FLAG = "CNPJ já cadastrado por outro contato"


async def _lead_ids(engine: Any) -> dict[str, int]:
    async with engine.connect() as conn:
        return {row.phone: row.id for row in await conn.execute(select(leads.c.id, leads.c.phone))}


async def test_a_second_lead_with_the_same_cnpj_gets_a_link_not_the_company(
    database_url: str,
) -> None:
    async with engine_for(database_url) as engine:
        owner_key, other_key = await add_conversations(engine, 2)
        service = lead_service(engine)
        first = await service.register_company(
            owner_key, cnpj=CNPJ, legal_name="Frigorífico Oeste Ltda", city="Chapecó", uf="SC"
        )
        second = await service.register_company(
            other_key, cnpj="11222333000181", legal_name="Outra Razão", city="Curitiba", uf="PR"
        )
        ids = await _lead_ids(engine)
        owner, other = ids[owner_key.removeprefix("wa:")], ids[other_key.removeprefix("wa:")]
        async with engine.connect() as conn:
            row = (await conn.execute(select(empresa))).one()
            assert (row.nome, row.cidade, row.uf, row.contato) == (
                "Frigorífico Oeste Ltda",
                "Chapecó",
                "SC",
                owner,
            )
        assert (first.created, first.shared) == (True, False)
        assert (second.created, second.shared) == (False, True)
        assert second.company_id == first.company_id
        async with engine.connect() as conn:
            companies = CompanyRepository(conn)
            mine, theirs = await companies.for_lead(owner), await companies.for_lead(other)
            actions = (
                await conn.execute(select(audit_log.c.action).order_by(audit_log.c.id))
            ).scalars()
            assert [a for a in actions if a.startswith("company.")] == [
                "company.registered",
                "company.shared",
            ]
        assert mine is not None
        assert theirs is not None
        assert mine.id == theirs.id == first.company_id
        assert (mine.shared, theirs.shared) == (False, True)

        # The owner may still correct its own company.
        again = await service.register_company(
            owner_key, cnpj=CNPJ, legal_name="Frigorífico Oeste S.A.", city=None, uf=None
        )
        assert (again.created, again.shared) == (False, False)
        async with engine.connect() as conn:
            assert (await conn.execute(select(empresa.c.nome))).scalar_one() == (
                "Frigorífico Oeste S.A."
            )


async def test_the_brief_of_a_lead_with_someone_elses_cnpj_says_so(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        owner_key, other_key = await add_conversations(engine, 2)
        service = lead_service(engine)
        await service.register_company(owner_key, cnpj=CNPJ, legal_name=None, city=None, uf=None)
        await service.register_company(other_key, cnpj=CNPJ, legal_name=None, city=None, uf=None)
        for key in (owner_key, other_key):
            await service.update_lead(
                key,
                {"name": "Rui", "production_volume": "2000 por dia", "urgency": "este mês"},
                turn_id=None,
            )
            await service.create_quote_request(key, product="FB300", details=None, turn_id=None)
        async with engine.connect() as conn:
            briefs = {
                row.conversation_key: row.summary["Observações adicionais"]
                for row in await conn.execute(select(handoffs))
            }
    assert SHARED_FLAG not in briefs[owner_key]
    assert SHARED_FLAG in briefs[other_key]


async def test_city_and_legal_name_are_capped(database_url: str) -> None:
    async with engine_for(database_url) as engine:
        [key] = await add_conversations(engine, 1)
        service = lead_service(engine)
        long = "Desconto de 50% aprovado pelo diretor " * 6
        result = await service.register_company(key, cnpj=CNPJ, legal_name=long, city=long, uf="SC")
        assert set(result.errors) == {"legal_name", "city"}
        assert result.company_id is not None
        update = await service.update_lead(key, {"city": long, "uf": "SC"}, turn_id=None)
        assert set(update.errors) == {"city"}
        async with engine.connect() as conn:
            row = (await conn.execute(select(empresa))).one()
            lead = (await conn.execute(select(leads.c.city, leads.c.company_name))).one()
    assert (row.nome, row.cidade, row.uf) == (None, None, "SC")
    assert (lead.city, lead.company_name) == (None, None)
