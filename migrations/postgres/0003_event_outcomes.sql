-- What applying an event did: 'applied' to a payment, or 'unmatched' (kept and reported).
ALTER TABLE stripe_events ADD COLUMN outcome TEXT;
CREATE INDEX stripe_events_by_payment ON stripe_events (payment_id);
