use crate::helpers::{Mode, TestApp};

#[tokio::test]
async fn the_home_page_says_what_remit_is_and_that_it_runs_in_sandbox_mode() {
    let app = TestApp::spawn_in_sandbox_mode().await;
    let response = app.get("/").await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = response.text().await.unwrap();
    assert!(html.contains("<title>Payments for Salesforce · Remit</title>"), "{html}");
    assert!(html.contains("Stripe payment link"), "{html}");
    assert!(html.contains("Sandbox mode"), "{html}");
    assert!(html.contains(r#"href="/style/brand/remit.css""#), "{html}");
    assert!(!html.contains("<script"), "pages need no JavaScript: {html}");
}

#[tokio::test]
async fn an_unknown_address_gets_the_branded_404_page_with_status_404() {
    let app = TestApp::spawn().await;
    let response = app.get("/no/such/page").await;
    assert_eq!(response.status(), 404);
    let html = response.text().await.unwrap();
    assert!(html.contains("Page not found"), "{html}");
    assert!(html.contains("brand-name"), "the 404 page is branded: {html}");
}

#[tokio::test]
async fn the_brand_from_remit_toml_names_the_pages_and_colours_the_stylesheet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("remit.toml");
    std::fs::write(
        &path,
        "[brands.acme]\nname = \"Acme Giving\"\nprimary_color = \"#7c2d12\"\nsupport_email = \"help@acme.test\"\n",
    )
    .unwrap();
    let app = TestApp::spawn_with(Mode::Live, &[("REMIT_CONFIG", path.to_str().unwrap())]).await;

    let html = app.get("/").await.text().await.unwrap();
    assert!(html.contains("Acme Giving"), "{html}");
    assert!(html.contains("mailto:help@acme.test"), "{html}");

    let css = app.get("/style/brand/acme.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains("--brand-primary: #7c2d12;"));
    assert_eq!(app.get("/style/brand/other.css").await.status(), 404);
}

#[tokio::test]
async fn the_stylesheet_and_logo_are_served() {
    let app = TestApp::spawn().await;
    let css = app.get("/style/main.css").await;
    assert_eq!(css.status(), 200);
    assert!(css.text().await.unwrap().contains("--brand-primary"));
    let logo = app.get("/style/logo.svg").await;
    assert_eq!(logo.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn live_mode_pages_carry_no_sandbox_notice() {
    let app = TestApp::spawn().await;
    let html = app.get("/").await.text().await.unwrap();
    assert!(!html.contains("Sandbox mode"), "{html}");
    assert!(html.contains("live mode"), "{html}");
}

#[tokio::test]
async fn in_sandbox_mode_the_salesforce_stand_ins_records_are_shown() {
    let app = TestApp::spawn_in_sandbox_mode().await;
    let response = app.get("/sandbox/salesforce").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["refresh"], "5");
    let html = response.text().await.unwrap();
    assert!(html.contains("Sample Opportunity"), "{html}");
    assert!(html.contains("<caption>Opportunity (1)</caption>"), "{html}");
}

#[tokio::test]
async fn in_live_mode_there_is_no_sandbox_page() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/sandbox/salesforce").await.status(), 404);
}
