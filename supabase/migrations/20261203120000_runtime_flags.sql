-- Runtime flags (issue 14): switches operators flip through `PUT /admin/flags/{name}` without a
-- deploy, read by every process (each caches them for at most FLAGS_CACHE_SECONDS). A flag with
-- no row here has its environment default (`BOT_ENABLED`, `BOT_ENABLED_ZAPI`, ...); once a row
-- exists it wins. Every change is also in audit_log (actor, from, to).
create table if not exists public.runtime_flags (
    name text primary key,
    enabled boolean not null,
    updated_at timestamptz not null,
    updated_by text not null
);
alter table public.runtime_flags enable row level security;
