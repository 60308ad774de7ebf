-- One Stripe customer per Salesforce Account, remembered so it is never created twice.
CREATE TABLE stripe_customers (
    account_id          TEXT PRIMARY KEY,
    stripe_customer_id  TEXT NOT NULL,
    created_at          BIGINT NOT NULL
);

-- Answers to API requests that carried an Idempotency-Key, replayed when the same key comes back.
CREATE TABLE api_idempotency (
    api_key_id      TEXT NOT NULL REFERENCES api_keys (id),
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          BIGINT NOT NULL,
    body            TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, idempotency_key)
);
