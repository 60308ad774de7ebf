//! Payments collected by a Stripe invoice instead of Checkout. Remit issues the invoice (create,
//! add the amount, finalize, send: Stripe emails it), records its hosted page, and voids it when
//! the payment's terms change or it is canceled, so a payment never has two open invoices. Each
//! step's idempotency key names the payment's terms version: retries and concurrent requests
//! reach the same invoice, a change of terms makes a new one.

use super::{Collection, LinkError, Payment, Payments, ValidationError, store};
use crate::{
    jobs, outbox,
    stripe::{Form, InvoiceStep, StripeError},
};

impl Payments {
    /// Issues the invoice of an unpaid invoice payment that has none for its current terms, and
    /// returns the payment as it is then. Other payments come back as they are.
    pub(super) async fn ensure_invoice(&self, payment: Payment) -> Result<Payment, LinkError> {
        let Collection::Invoice { days_until_due } = payment.collection() else { return Ok(payment) };
        if payment.stripe_invoice_id.is_some() || !payment.status().is_payable() {
            return Ok(payment);
        }
        let Some(customer) = payment.stripe_customer_id.clone() else {
            return Err(ValidationError {
                field: "account_id",
                message: "is required with collection \"invoice\": an invoice goes to the Account's Stripe customer"
                    .into(),
            }
            .into());
        };
        let key = |step: &str| format!("remit-invoice-{}-v{}-{step}", payment.id, payment.terms_version);
        let draft =
            self.stripe.create_invoice(&self.invoice_form(&payment, &customer, days_until_due), &key("create")).await?;
        let item = Form::new()
            .set("customer", &customer)
            .set("invoice", &draft.id)
            .set("amount", payment.amount_minor)
            .set("currency", &payment.currency)
            .set("description", self.display_name(&payment));
        self.stripe.create_invoice_item(&item, &key("item")).await?;
        let open = self.stripe.invoice_step(&draft.id, InvoiceStep::Finalize, &key("finalize")).await?;
        self.stripe.invoice_step(&open.id, InvoiceStep::Send, &key("send")).await?;
        let url = open
            .hosted_invoice_url
            .ok_or_else(|| StripeError::Decode("a finalized invoice has no hosted_invoice_url".into()))?;
        let mut tx = self.db.writes.begin().await?;
        let recorded = store::record_invoice(&mut tx, &payment, &open.id, &url).await?;
        if recorded {
            outbox::enqueue(&mut tx, &jobs::SyncPayment { payment_id: payment.id.clone() }).await?;
        }
        tx.commit().await?;
        if recorded {
            self.wake.job::<jobs::SyncPayment>();
        }
        let now = store::by_id(&self.db, &payment.id).await?.ok_or(LinkError::NotFound)?;
        // The terms changed while Stripe made it: it asks the old amount, so it goes.
        if now.stripe_invoice_id.as_deref() != Some(open.id.as_str()) {
            tracing::info!(payment = %payment.id, invoice = %open.id, "the payment changed while its invoice was issued; voiding it");
            self.void_invoice(&open.id, &now).await?;
        }
        Ok(now)
    }

    fn invoice_form(&self, payment: &Payment, customer: &str, days_until_due: i64) -> Form {
        let metadata = [
            ("remit_payment_id", Some(payment.id.as_str())),
            ("salesforce_opportunity_id", Some(payment.opportunity_id.as_str())),
            ("salesforce_account_id", payment.account_id.as_deref()),
            ("salesforce_contact_id", payment.contact_id.as_deref()),
        ];
        Form::new()
            .set("customer", customer)
            .set("collection_method", "send_invoice")
            .set("days_until_due", days_until_due)
            .set("currency", &payment.currency)
            .set("description", self.display_name(payment))
            // Remit finalizes it itself, once its amount is on it.
            .set("auto_advance", false)
            .set_map("metadata", metadata.iter().filter_map(|(k, v)| v.map(|v| (*k, v))))
    }

    /// Voids an invoice that shows old terms. One paid meanwhile means the payer has paid: the
    /// payment cannot change (its `invoice.paid` event settles it).
    pub(super) async fn void_invoice(&self, invoice_id: &str, payment: &Payment) -> Result<(), LinkError> {
        let invoice = self.stripe.retrieve_invoice(invoice_id).await?;
        match invoice.status.as_deref() {
            Some("open" | "uncollectible") => {
                match self.stripe.invoice_step(invoice_id, InvoiceStep::Void, &format!("remit-void-{invoice_id}")).await
                {
                    Ok(_) => Ok(()),
                    Err(StripeError::InvalidRequest { .. }) => Err(LinkError::InProgress(Box::new(payment.clone()))),
                    Err(other) => Err(other.into()),
                }
            }
            Some("paid") => Err(LinkError::InProgress(Box::new(payment.clone()))),
            _ => Ok(()),
        }
    }
}
