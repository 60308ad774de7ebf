-- How a payment is collected: 'checkout' (its pay link opens Stripe Checkout) or 'invoice' (a
-- Stripe invoice Remit issues, paid at Stripe's hosted invoice page).
ALTER TABLE payments ADD COLUMN collection TEXT NOT NULL DEFAULT 'checkout';
-- The days an invoice gives the payer, from when it is sent.
ALTER TABLE payments ADD COLUMN days_until_due BIGINT;
-- The payment's open (or paid) invoice; NULL until issued, and again while a changed one is reissued.
ALTER TABLE payments ADD COLUMN stripe_invoice_id TEXT;
ALTER TABLE payments ADD COLUMN hosted_invoice_url TEXT;
-- Counts changes of terms: each issue of an invoice is one Stripe call per version, however often
-- it is retried (the version is part of its idempotency keys).
ALTER TABLE payments ADD COLUMN terms_version BIGINT NOT NULL DEFAULT 0;
