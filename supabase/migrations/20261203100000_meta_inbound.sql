-- WhatsApp Cloud API (Meta) inbound: what a message says beyond its text, kept on its event.
-- `sent_at` is the lead's own send time (Meta re-delivers for days; the 24 h reply window
-- counts from it), `machine_value` the id of a button or list choice, `referral` the
-- Click-to-WhatsApp ad attribution the CRM note reads.

alter table public.inbound_events add column if not exists sent_at timestamptz;
alter table public.inbound_events add column if not exists machine_value text;
alter table public.inbound_events add column if not exists referral jsonb;
