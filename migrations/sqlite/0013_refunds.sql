-- Refunds Remit asked Stripe for. A request repeated with the same Idempotency-Key finds its row
-- (request_key), so its retry reuses the refund id and with it Stripe's Idempotency-Key.
CREATE TABLE refunds (
    id TEXT PRIMARY KEY,
    payment_id TEXT NOT NULL REFERENCES payments (id),
    request_key TEXT,
    stripe_refund_id TEXT,
    amount_minor BIGINT NOT NULL,
    currency TEXT NOT NULL,
    reason TEXT,
    note TEXT,
    -- pending (asked, or Stripe's answer not yet known), succeeded, failed, canceled
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX refunds_per_request ON refunds (payment_id, request_key) WHERE request_key IS NOT NULL;
CREATE INDEX refunds_of_payment ON refunds (payment_id, created_at);
-- How much of the payment Stripe's events say was refunded (minor units), as Salesforce shows it.
ALTER TABLE payments ADD COLUMN refunded_minor BIGINT NOT NULL DEFAULT 0;
-- Refund events find their row by Stripe's id; a Dashboard refund's first event makes one.
CREATE UNIQUE INDEX refunds_by_stripe_id ON refunds (stripe_refund_id) WHERE stripe_refund_id IS NOT NULL;
