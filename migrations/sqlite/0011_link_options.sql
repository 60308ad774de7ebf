-- Per-link Checkout options (JSON of payments::CheckoutOptions, the brand's defaults applied) and
-- when the link stops taking payments (Unix milliseconds; NULL: never).
ALTER TABLE payments ADD COLUMN checkout_options TEXT;
ALTER TABLE payments ADD COLUMN expires_at BIGINT;
-- The expiry tick looks only at payable payments that have an expiry.
CREATE INDEX payments_expiring ON payments (expires_at) WHERE expires_at IS NOT NULL AND status IN ('open', 'failed');
