//! Receipts rendered per second and the size of one PDF.
//!
//! Run: `cargo bench -p server --bench receipts` (REMIT_BENCH_RECEIPTS changes the count).

use std::time::Instant;

use server::{
    config::Brands,
    receipts::{Receipt, render},
};

fn main() {
    let count: usize = std::env::var("REMIT_BENCH_RECEIPTS").ok().and_then(|v| v.parse().ok()).unwrap_or(2000);
    let brands = Brands::from_toml(
        "[brands.acme]\nname = \"Acme Foundation\"\nsupport_email = \"give@acme.example\"\nlegal_footer = \"Acme Foundation, 1 Main Street, Springfield\"\n",
    )
    .expect("a valid brand");
    let receipt = |n: usize| Receipt {
        brand: brands.default_brand(),
        number: format!("ACME-{n:06}"),
        payer_name: Some("Ana Lima"),
        payer_email: "ana@example.com",
        paid_on: Some(time::OffsetDateTime::now_utc()),
        description: "Annual membership",
        amount: "125.00 USD".into(),
        method: Some("Visa •••• 4242".into()),
        refunds: Vec::new(),
        refunded_in_all: None,
        reference: Some("pi_3QbenchmarkIntent"),
    };
    let size = render(&receipt(0)).expect("renders").len();
    let mut times = Vec::with_capacity(count);
    let started = Instant::now();
    for n in 0..count {
        let one = Instant::now();
        std::hint::black_box(render(&receipt(n)).expect("renders"));
        times.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let elapsed = started.elapsed().as_secs_f64();
    times.sort_by(f64::total_cmp);
    println!("receipts: {count}");
    println!("receipts per second (one core): {:.0}", count as f64 / elapsed);
    println!("render time: p50 {:.2} ms, p99 {:.2} ms", times[count / 2], times[count * 99 / 100]);
    println!("PDF size: {size} bytes");
}
