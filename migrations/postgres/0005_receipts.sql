-- Receipts: numbered in sequence per brand when a payment is paid; the PDF is served by its own
-- token (payments.receipt_token), separate from every other id.
ALTER TABLE payments ADD COLUMN receipt_number BIGINT;
CREATE UNIQUE INDEX payments_receipt_number_per_brand ON payments (brand, receipt_number);
