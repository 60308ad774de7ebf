-- Single-use sign-in links for payers: only the SHA-256 of each token is kept.
CREATE TABLE sign_in_tokens (
    token_hash  TEXT PRIMARY KEY,
    email       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL,
    used_at     BIGINT,
    created_at  BIGINT NOT NULL
);
CREATE INDEX payments_by_lower_payer_email ON payments (LOWER(payer_email));
