use std::fmt;

/// Where a payment stands. Stored and reported in these exact words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentStatus {
    Open,
    Processing,
    Paid,
    PartiallyRefunded,
    Refunded,
    Disputed,
    Failed,
    Canceled,
    Expired,
}

impl PaymentStatus {
    pub const ALL: [Self; 9] = [
        Self::Open,
        Self::Processing,
        Self::Paid,
        Self::PartiallyRefunded,
        Self::Refunded,
        Self::Disputed,
        Self::Failed,
        Self::Canceled,
        Self::Expired,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Processing => "processing",
            Self::Paid => "paid",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
            Self::Disputed => "disputed",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }

    /// Money has moved: the payment can no longer be changed or canceled.
    pub fn is_settled(self) -> bool {
        matches!(self, Self::Paid | Self::PartiallyRefunded | Self::Refunded | Self::Disputed)
    }

    /// The payer may (still or again) pay: the pay page offers Checkout.
    pub fn is_payable(self) -> bool {
        matches!(self, Self::Open | Self::Failed)
    }

    /// Over without payment: a new link request for the Opportunity starts a new payment.
    pub fn is_closed(self) -> bool {
        matches!(self, Self::Canceled | Self::Expired)
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
