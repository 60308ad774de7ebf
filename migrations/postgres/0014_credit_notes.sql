-- A succeeded refund's credit note: numbered per brand (ACME-CN-000001) when Remit first learns the
-- refund succeeded, with a token of its own for the download link. The number stays if the bank
-- returns the refund later: the note is then shown as void, never renumbered or reused.
ALTER TABLE refunds ADD COLUMN credit_note_brand TEXT;
ALTER TABLE refunds ADD COLUMN credit_note_number BIGINT;
ALTER TABLE refunds ADD COLUMN credit_note_token TEXT;
ALTER TABLE refunds ADD COLUMN credit_note_issued_at BIGINT;
CREATE UNIQUE INDEX refunds_credit_note_per_brand ON refunds (credit_note_brand, credit_note_number)
    WHERE credit_note_number IS NOT NULL;
CREATE UNIQUE INDEX refunds_by_credit_note_token ON refunds (credit_note_token) WHERE credit_note_token IS NOT NULL;
