-- Remit's first tables. Timestamps are Unix milliseconds (BIGINT) so one query layer serves
-- SQLite and PostgreSQL alike; money is BIGINT in the currency's minor unit.

CREATE TABLE payments (
    id                          TEXT PRIMARY KEY,
    opportunity_id              TEXT NOT NULL,
    account_id                  TEXT,
    contact_id                  TEXT,
    brand                       TEXT NOT NULL,
    record_type                 TEXT,
    description                 TEXT,
    payer_email                 TEXT NOT NULL,
    payer_name                  TEXT,
    amount_minor                BIGINT NOT NULL CHECK (amount_minor > 0),
    currency                    TEXT NOT NULL,
    status                      TEXT NOT NULL,
    pay_token                   TEXT NOT NULL UNIQUE,
    receipt_token               TEXT UNIQUE,
    stripe_customer_id          TEXT,
    stripe_checkout_session_id  TEXT,
    stripe_payment_intent_id    TEXT,
    failure_reason              TEXT,
    failed_attempts             BIGINT NOT NULL DEFAULT 0,
    paid_at                     BIGINT,
    created_at                  BIGINT NOT NULL,
    updated_at                  BIGINT NOT NULL
);
-- One live payment per Opportunity: a second request for it finds this one.
CREATE UNIQUE INDEX payments_live_per_opportunity ON payments (opportunity_id)
    WHERE status NOT IN ('canceled', 'expired');
CREATE INDEX payments_by_session ON payments (stripe_checkout_session_id);
CREATE INDEX payments_by_payment_intent ON payments (stripe_payment_intent_id);
CREATE INDEX payments_by_payer_email ON payments (payer_email);

CREATE TABLE stripe_events (
    id            TEXT PRIMARY KEY,
    event_type    TEXT NOT NULL,
    payload       TEXT NOT NULL,
    payment_id    TEXT REFERENCES payments (id),
    received_at   BIGINT NOT NULL,
    processed_at  BIGINT
);

CREATE TABLE outbox (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    -- Jobs with the same key coalesce while one is still pending.
    dedupe_key    TEXT,
    status        TEXT NOT NULL DEFAULT 'pending',
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    run_at        BIGINT NOT NULL,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE UNIQUE INDEX outbox_pending_dedupe ON outbox (dedupe_key) WHERE status = 'pending';
CREATE INDEX outbox_due ON outbox (status, run_at);

CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    payment_id   TEXT NOT NULL REFERENCES payments (id),
    from_status  TEXT,
    to_status    TEXT NOT NULL,
    cause        TEXT NOT NULL,
    event_id     TEXT,
    at           BIGINT NOT NULL
);
CREATE INDEX audit_log_by_payment ON audit_log (payment_id, at);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    -- SHA-256 of the key; the key itself is shown once and never stored.
    key_hash      TEXT NOT NULL UNIQUE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
