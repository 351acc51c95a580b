-- LGPD retention (issue 14, DECISIONS C33): the daily pass looks for old rows that still hold
-- a raw body, a text or a reply body. Partial indexes hold only those rows, so a pass never
-- re-reads what it already cleared; the audit and receipt passes go by age.
create index if not exists ix_inbound_events_payload_retention
    on public.inbound_events (received_at) where length(payload) > 0;
create index if not exists ix_inbound_events_text_retention
    on public.inbound_events (received_at) where body_text is not null;
create index if not exists ix_outbound_messages_body_retention
    on public.outbound_messages (created_at) where body <> '';
create index if not exists ix_delivery_receipts_received
    on public.delivery_receipts (received_at);
create index if not exists ix_audit_log_at
    on public.audit_log (at);
