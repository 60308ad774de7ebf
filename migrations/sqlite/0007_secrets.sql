-- Secrets Remit makes for itself (the CSRF signing key), shared by every instance on this database.
CREATE TABLE remit_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
