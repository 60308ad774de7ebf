//! The payment domain: what a payment is, how a link request becomes one, and its states.
//! Free of HTTP types: the API and pages call in here.

mod customers;
pub mod events;
mod ids;
mod links;
pub mod locale;
mod money;
mod receipt;
mod request;
mod returns;
mod status;
mod store;
mod webhooks;

pub use ids::{EmailAddress, SalesforceId, checksum};
pub use links::{CheckoutError, LinkError, LinkOutcome, Payments};
pub use money::{Currency, MAX_AMOUNT_MINOR, MoneyError};
pub use receipt::{ReceiptError, ReceiptPdf};
pub use request::{LinkRequest, RawLinkRequest, ValidationError};
pub use returns::ReturnError;
pub use status::PaymentStatus;
pub use store::{COLUMNS, Payment};
pub use webhooks::{ApplyError, EventHeader};
