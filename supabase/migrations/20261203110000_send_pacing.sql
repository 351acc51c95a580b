-- WhatsApp Cloud API pacing, shared by every process that sends (issue 13): Meta refuses a
-- second message to one user within about 6 s (131056) and more than the number's throughput
-- (130429). One row per scope holds the earliest time its next send may go out: `global` for
-- the number, `to:<conversation key>` per lead. A send reserves its slot under the row locks.
create table if not exists public.send_pacing (
    scope text primary key,
    next_at timestamptz not null
);
alter table public.send_pacing enable row level security;
