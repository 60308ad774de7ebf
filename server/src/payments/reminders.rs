//! Reminding unpaid links (DESIGN §3, 8): each step of the payment's schedule once, counted from
//! when the link email went out, never while the payment is being paid, paid, closed or expired.
//! Due reminders are found in the database on every tick, and a step is claimed by a conditional
//! update in the same transaction that enqueues its email, so restarts and several instances send
//! each step exactly once.

use super::{Payment, Payments, store};
use crate::{
    config::{ReminderSchedule, ReminderStep},
    db::now_ms,
    jobs, outbox,
};

/// When step `step` of `schedule` is due for a link emailed at `emailed_at`; `None` past the last.
pub fn due_at(schedule: &ReminderSchedule, emailed_at: i64, step: usize) -> Option<i64> {
    let after = schedule.steps.get(step)?.after;
    Some(emailed_at.saturating_add(i64::try_from(after.as_millis()).unwrap_or(i64::MAX)))
}

impl Payments {
    pub fn reminder_schedule(&self, payment: &Payment) -> &ReminderSchedule {
        self.reminders.schedule_for(&payment.brand, payment.record_type.as_deref())
    }

    /// The step a reminder email is for, as configured now.
    pub fn reminder_step(&self, payment: &Payment, step: usize) -> Option<&ReminderStep> {
        self.reminder_schedule(payment).steps.get(step)
    }

    /// The link email went out: reminders count from the first time it did.
    pub async fn link_emailed(&self, payment: &Payment) -> Result<(), sqlx::Error> {
        let now = now_ms();
        let first = due_at(self.reminder_schedule(payment), payment.link_emailed_at.unwrap_or(now), 0);
        store::link_emailed(&self.db, &payment.id, now, first).await
    }

    /// Sends the reminders due now (up to 100 a tick): each claimed step enqueues its email and a
    /// sync (Salesforce counts reminders; after the last, the owner gets a Task).
    pub async fn send_due_reminders(&self) -> Result<usize, sqlx::Error> {
        let now = now_ms();
        let mut sent = 0;
        for payment in store::due_reminders(&self.db, now, 100).await? {
            let step = payment.reminder_step;
            let emailed_at = payment.link_emailed_at.unwrap_or(now);
            let index = usize::try_from(step).unwrap_or(usize::MAX);
            let next = due_at(self.reminder_schedule(&payment), emailed_at, index.saturating_add(1));
            let mut tx = self.db.writes.begin().await?;
            if !store::advance_reminder(&mut tx, &payment.id, step, now, next).await? {
                continue;
            }
            let id = payment.id.clone();
            outbox::enqueue(&mut tx, &jobs::EmailReminder { payment_id: id.clone(), step }).await?;
            outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: id }).await?;
            tx.commit().await?;
            sent += 1;
        }
        if sent > 0 {
            self.wake.job::<jobs::EmailReminder>();
            self.wake.job::<jobs::SyncPayment>();
        }
        Ok(sent)
    }

    /// The payer asked for no more reminders of this link; false when none were coming.
    pub async fn stop_reminders(&self, pay_token: &str) -> Result<bool, sqlx::Error> {
        store::stop_reminders(&self.db, pay_token, now_ms()).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{ReminderStep, ReminderTemplate};

    #[test]
    fn each_step_is_due_its_time_after_the_link_email_and_none_after_the_last() {
        let step = |secs| ReminderStep {
            after: Duration::from_secs(secs),
            template: ReminderTemplate::Reminder,
            from: None,
            reply_to: None,
        };
        let schedule = ReminderSchedule { steps: vec![step(2), step(4)] };
        assert_eq!(due_at(&schedule, 10_000, 0), Some(12_000));
        assert_eq!(due_at(&schedule, 10_000, 1), Some(14_000));
        assert_eq!(due_at(&schedule, 10_000, 2), None);
        assert_eq!(due_at(&ReminderSchedule::default(), 10_000, 0), None);
    }
}
