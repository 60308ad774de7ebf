-- Sign-in links are for a payer's account or for the operator console; one never opens the other.
ALTER TABLE sign_in_tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'payer';

-- What operators did in the console, with their address: who replayed, refunded, revoked what.
CREATE TABLE operator_audit (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    operator    TEXT NOT NULL,
    action      TEXT NOT NULL,
    -- What it was done to: a payment id, a job id, a job class, an API key id.
    subject     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    at          BIGINT NOT NULL
);
CREATE INDEX operator_audit_by_subject ON operator_audit (subject, at);
