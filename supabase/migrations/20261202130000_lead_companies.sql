-- PipeRun as it really is (vendors.md #16): a contact list is sent on an update only when the
-- lead's e-mail or phone changed since it was last sent, so its fingerprint is kept apart from
-- the fingerprint of the record's other fields.

alter table public.crm_links add column if not exists company_contacts_fingerprint text;
alter table public.crm_links add column if not exists person_contacts_fingerprint text;

-- redteam L3: a CNPJ is public, so a lead typing another lead's CNPJ must not take that
-- company over. `empresa.contato` stays the lead who registered the CNPJ first (the only one
-- whose answers fill the row); every lead that registered it, that one included, has a link.
create table if not exists public.lead_companies (
    lead_id bigint not null references public.leads (id) on delete cascade,
    company_id bigint not null references public.empresa (id) on delete cascade,
    -- The latest registration: a lead's current company is the one it named last.
    linked_at timestamptz not null,
    primary key (lead_id, company_id)
);
create index if not exists ix_lead_companies_company on public.lead_companies (company_id);
alter table public.lead_companies enable row level security;

insert into public.lead_companies (lead_id, company_id, linked_at)
select contato, id, updated_at from public.empresa where contato is not null
on conflict do nothing;
