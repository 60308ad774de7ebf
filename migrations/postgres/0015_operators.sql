-- Who may sign in to the operator console besides the addresses REMIT_OPERATORS names (admins):
-- added with `remit operator add EMAIL --role admin|viewer`. Emails are kept lowercase.
CREATE TABLE operators (
    email       TEXT PRIMARY KEY,
    -- admin (sees and acts) or viewer (sees)
    role        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
