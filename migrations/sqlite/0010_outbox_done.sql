-- Finished jobs leave the hot queue table, so claiming and finishing stay cheap however much has
-- run; they are kept here for a while for looking into what ran.
CREATE TABLE outbox_done (
    id           BIGINT PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    dedupe_key   TEXT,
    attempts     BIGINT NOT NULL,
    last_error   TEXT,
    created_at   BIGINT NOT NULL,
    -- The worker that finished it (none for a job merged into a twin).
    finished_by  TEXT,
    finished_at  BIGINT NOT NULL
);
CREATE INDEX outbox_done_finished ON outbox_done (finished_at);
CREATE INDEX outbox_done_dedupe ON outbox_done (dedupe_key);

INSERT INTO outbox_done (id, kind, payload, dedupe_key, attempts, last_error, created_at, finished_at)
    SELECT id, kind, payload, dedupe_key, attempts, last_error, created_at, updated_at FROM outbox WHERE status = 'done';
DELETE FROM outbox WHERE status = 'done';

-- The twin checks of claiming look jobs up by key in every state.
CREATE INDEX outbox_dedupe ON outbox (dedupe_key);
-- Claiming walks due jobs in order and stops at its limit.
DROP INDEX outbox_due;
CREATE INDEX outbox_due ON outbox (status, run_at, id);
