-- What the payer actually paid, in case it differs from what the payment asks (the terms changed
-- while they were paying): shown, synced and tasked, never a silent Paid.
ALTER TABLE payments ADD COLUMN paid_amount_minor BIGINT;
ALTER TABLE payments ADD COLUMN paid_currency TEXT;
