-- PipeRun as it really is (vendors.md #16): a contact list is sent on an update only when the
-- lead's e-mail or phone changed since it was last sent, so its fingerprint is kept apart from
-- the fingerprint of the record's other fields.

alter table public.crm_links add column if not exists company_contacts_fingerprint text;
alter table public.crm_links add column if not exists person_contacts_fingerprint text;
