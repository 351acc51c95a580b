-- Voice notes (issue 6): a transcript is stored as the event's message text, marked as such,
-- and an audio that could not be used records why. The raw audio is never stored; the event's
-- payload keeps only the provider's media URL.
-- No new table: inbound_events already has row level security enabled with no policy
-- (initial migration), so Supabase's anon/authenticated API roles still see nothing.

alter table public.inbound_events
    add column if not exists body_is_transcript boolean not null default false;
alter table public.inbound_events
    add column if not exists media_error text;

comment on column public.inbound_events.body_is_transcript is
    'true when body_text is the transcript of a voice note (the audio itself is not kept)';
comment on column public.inbound_events.media_error is
    'why a voice note could not be used (a reason code such as audio_too_long or audio_expired)';
