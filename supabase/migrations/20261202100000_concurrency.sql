-- Exactly once under concurrency: one pending handoff per conversation as a database rule, and
-- the time of the last ownership change so that a replayed or late event never undoes a later
-- decision (a resume, a takeover) of a person.

-- Parallel tool calls could insert two pending handoffs for one conversation before this index
-- existed; keep the oldest and close the rest so the index can be built.
update public.handoffs as h
set status = 'closed', updated_at = now()
where h.status = 'pending'
  and exists (
      select 1 from public.handoffs as older
      where older.conversation_key = h.conversation_key
        and older.status = 'pending'
        and older.id < h.id
  );
create unique index if not exists uq_handoffs_one_pending
    on public.handoffs (conversation_key) where status = 'pending';

-- When who answers the conversation last changed (the time of the event that changed it).
alter table public.conversations add column if not exists owner_changed_at timestamptz;
