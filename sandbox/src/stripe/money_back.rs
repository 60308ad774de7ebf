//! What happens to a payment after it was paid, on the bank's side: a refund returned, a dispute
//! opened and closed. Tests steer these through [`super::Stripe`]; people through the test
//! dashboard (`dashboard.rs`).

use serde_json::{Value, json};

use super::{
    api::stripe_queue,
    state::{StripeState, now, object, random_id},
};

/// The bank returns a refund, as Stripe reports a refund failing days later: the refund is
/// `failed`, its amount is back on the charge, and `refund.failed` is delivered.
pub fn fail_refund(state: &mut StripeState, id: &str) {
    let Some(mut refund) = state.refunds.get(id).cloned() else { return };
    if refund["status"] != "succeeded" && refund["status"] != "pending" {
        return;
    }
    refund["status"] = json!("failed");
    refund["failure_reason"] = json!("lost_or_stolen_card");
    state.refunds.insert(id.to_owned(), refund.clone());
    let charge_id = refund["charge"].as_str().unwrap_or_default().to_owned();
    if let Some(charge) = state.charges.get_mut(&charge_id) {
        let back = charge["amount_refunded"].as_i64().unwrap_or(0) - refund["amount"].as_i64().unwrap_or(0);
        charge["amount_refunded"] = json!(back.max(0));
        charge["refunded"] = json!(false);
    }
    let event = state.event("refund.failed", &refund);
    stripe_queue(state, event);
}

/// The bank completes a pending refund (a bank account's): `refund.updated`, now succeeded.
pub fn complete_refund(state: &mut StripeState, id: &str) {
    let Some(refund) = state.refunds.get_mut(id) else { return };
    if refund["status"] != "pending" {
        return;
    }
    refund["status"] = json!("succeeded");
    let refund = refund.clone();
    let event = state.event("refund.updated", &refund);
    stripe_queue(state, event);
}

/// As Stripe's test card 4000 0000 0000 0259 does: the payer's bank disputes the charge as
/// fraudulent, with evidence due in a week.
pub fn open_dispute(state: &mut StripeState, charge_id: &str) {
    let Some(charge) = state.charges.get_mut(charge_id) else { return };
    if charge["disputed"] == true || charge["status"] != "succeeded" {
        return;
    }
    charge["disputed"] = json!(true);
    let charge = charge.clone();
    let dispute = object(
        "dispute",
        json!({
            "id": random_id("dp_", 24), "amount": charge["amount"], "charge": charge["id"], "created": now(),
            "currency": charge["currency"], "payment_intent": charge["payment_intent"], "reason": "fraudulent",
            "status": "needs_response", "is_charge_refundable": false, "metadata": {},
            "evidence_details": { "due_by": now() + 7 * 24 * 3600, "has_evidence": false, "past_due": false, "submission_count": 0 },
        }),
    );
    state.disputes.insert(dispute["id"].as_str().unwrap_or_default().to_owned(), dispute.clone());
    let event = state.event("charge.dispute.created", &dispute);
    stripe_queue(state, event);
}

/// The card network decides an open dispute: won, or lost (the disputed amount stays with the
/// payer). Delivers `charge.dispute.closed`.
pub fn close_dispute(state: &mut StripeState, id: &str, won: bool) {
    let Some(dispute) = state.disputes.get_mut(id) else { return };
    if matches!(dispute["status"].as_str(), Some("won" | "lost")) {
        return;
    }
    dispute["status"] = json!(if won { "won" } else { "lost" });
    let dispute: Value = dispute.clone();
    let event = state.event("charge.dispute.closed", &dispute);
    stripe_queue(state, event);
}
