//! The server side of the pages: [`app::PaymentPages`] over the payment domain.

use app::{CheckoutProblem, PayState, PayView, PaymentPages};

use super::brand_view;
use crate::payments::{CheckoutError, PaymentStatus, Payments};

pub struct PageBackend {
    pub payments: Payments,
}

#[async_trait::async_trait]
impl PaymentPages for PageBackend {
    async fn pay_view(&self, token: &str) -> Result<Option<PayView>, String> {
        let payment = self.payments.by_pay_token(token).await.map_err(|e| {
            tracing::error!(error = %e, "pay page: database");
            "database unavailable".to_owned()
        })?;
        Ok(payment.map(|payment| {
            let brand = self.payments.brands.choose(Some(&payment.brand), None);
            let state = match payment.status() {
                status if status.is_payable() => PayState::Payable,
                status if status.is_settled() => PayState::Paid,
                PaymentStatus::Processing => PayState::Processing,
                _ => PayState::Closed,
            };
            PayView {
                token: payment.pay_token.clone(),
                description: payment.description.clone().unwrap_or_else(|| format!("Payment to {}", brand.name)),
                amount: payment.amount_display(),
                brand: brand_view(brand),
                state,
            }
        }))
    }

    async fn start_checkout(&self, token: &str) -> Result<String, CheckoutProblem> {
        self.payments.checkout_url(token).await.map_err(|error| match error {
            CheckoutError::NotFound => CheckoutProblem::NotFound,
            CheckoutError::NotPayable(_) => CheckoutProblem::NotPayable,
            CheckoutError::Stripe(e) => {
                tracing::warn!(error = %e, "pay button: Stripe Checkout unavailable");
                CheckoutProblem::Unavailable
            }
            CheckoutError::Database(e) => {
                tracing::error!(error = %e, "pay button: database");
                CheckoutProblem::Unavailable
            }
        })
    }
}
