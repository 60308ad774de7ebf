-- Reminders of unpaid links. `reminders`: 'on'; 'off' (the link asked for none); 'stopped' (the
-- payer stopped them); 'done' (every step went out: the owner gets a Task). `reminder_step`
-- counts the steps sent; advancing it is conditional on its old value, so each step goes out once
-- across ticks, restarts and instances.
ALTER TABLE payments ADD COLUMN reminders TEXT NOT NULL DEFAULT 'on';
ALTER TABLE payments ADD COLUMN reminder_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE payments ADD COLUMN link_emailed_at BIGINT;
ALTER TABLE payments ADD COLUMN next_reminder_at BIGINT;
ALTER TABLE payments ADD COLUMN last_reminder_at BIGINT;
ALTER TABLE payments ADD COLUMN reminders_stopped_at BIGINT;
CREATE INDEX payments_reminders_due ON payments (next_reminder_at)
    WHERE next_reminder_at IS NOT NULL AND reminders = 'on' AND status IN ('open', 'failed');
