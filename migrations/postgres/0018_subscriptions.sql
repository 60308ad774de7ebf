-- A recurring link: collection 'subscription', its pay button opens Checkout in subscription mode.
ALTER TABLE payments ADD COLUMN recurring_interval TEXT;
ALTER TABLE payments ADD COLUMN recurring_interval_count BIGINT;
ALTER TABLE payments ADD COLUMN trial_days BIGINT;
ALTER TABLE payments ADD COLUMN cycles BIGINT;
-- The subscription a recurring link started.
ALTER TABLE payments ADD COLUMN stripe_subscription_id TEXT;
-- Set on the payment of a subscription's later paid invoice: the link payment that started it.
-- Such a payment shares its Opportunity with that link payment, so it does not count as the
-- Opportunity's live payment.
ALTER TABLE payments ADD COLUMN renewal_of TEXT;
DROP INDEX payments_live_per_opportunity;
CREATE UNIQUE INDEX payments_live_per_opportunity ON payments (opportunity_id)
    WHERE status NOT IN ('canceled', 'expired') AND renewal_of IS NULL;
-- One payment per paid subscription invoice, however often its event is applied.
CREATE UNIQUE INDEX payments_renewal_invoice ON payments (stripe_invoice_id) WHERE renewal_of IS NOT NULL;
CREATE INDEX payments_by_renewal_of ON payments (renewal_of);

-- Each subscription as its events add up (written by the worker that applies them): what the
-- payer's account and Salesforce show.
CREATE TABLE subscriptions (
    id                    TEXT PRIMARY KEY,
    payment_id            TEXT NOT NULL REFERENCES payments (id),
    status                TEXT NOT NULL,
    customer              TEXT,
    amount_minor          BIGINT NOT NULL,
    currency              TEXT NOT NULL,
    recurring_interval    TEXT,
    interval_count        BIGINT NOT NULL,
    current_period_end    BIGINT,
    cancel_at_period_end  BIGINT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_payment ON subscriptions (payment_id);
