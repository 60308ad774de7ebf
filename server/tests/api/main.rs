//! Integration tests: each starts the real application on a random port with a fresh database
//! (SQLite by default; PostgreSQL when `REMIT_TEST_DATABASE_URL` names a server).

mod helpers;

mod accounts;
mod api_contract;
mod credit_notes;
mod email;
mod health;
mod invoices;
mod link_options;
mod openapi;
mod operators;
mod ops_console;
mod pages;
mod payment_links;
mod payments_export;
mod python;
mod receipts;
mod refunds;
mod reliability;
mod reminders;
mod returns;
mod salesforce;
mod salesforce_package;
mod startup;
mod stripe_client;
mod subscriptions;
mod webhooks;
