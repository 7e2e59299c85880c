//! DNS verification of discovery domains against a real DNS server
//! (dnsmasq on loopback): verify now, the reasons a domain stays pending,
//! demotion after the grace period (the app's clock moved, the periodic
//! pass run), transfer to an organization that proves control, and the
//! refusal of public suffixes.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use switchyard::flows::domain_verification::check_due_domains;

use crate::on_both_backends;
use crate::support::dns::DnsServer;
use crate::support::{Backend, TestApp, spawn_configured};

on_both_backends!(
    verify_finds_the_token_and_routes_the_domain,
    verify_says_why_a_domain_stays_pending,
    a_record_gone_past_the_grace_period_demotes_the_domain,
    a_transfer_moves_the_domain_to_the_organization_that_proves_control,
    public_suffixes_cannot_be_claimed,
);

const HOUR: Duration = Duration::from_secs(3600);
const DAY: Duration = Duration::from_secs(24 * 3600);

async fn spawn_with_dns(backend: Backend, dns: &DnsServer) -> TestApp {
    let resolver = dns.addr;
    // The test config runs no periodic pass: the tests run it, having moved the clock.
    spawn_configured(backend, |config| config.dns.resolver = Some(resolver)).await
}

async fn create_org(app: &TestApp, token: &str, name: &str) -> String {
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            token,
            Some(json!({"name": name})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    org["id"].as_str().unwrap().to_owned()
}

async fn claim(app: &TestApp, token: &str, org: &str, body: Value) -> (StatusCode, Value) {
    app.api(
        Method::POST,
        &format!("/api/v2/organizations/{org}/discovery-domains"),
        token,
        Some(body),
    )
    .await
}

async fn verify(app: &TestApp, token: &str, org: &str, id: &str) -> Value {
    let (status, body) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org}/discovery-domains/{id}/verify"),
            token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn get(app: &TestApp, token: &str, org: &str, id: &str) -> (StatusCode, Value) {
    app.api(
        Method::GET,
        &format!("/api/v2/organizations/{org}/discovery-domains/{id}"),
        token,
        None,
    )
    .await
}

async fn routed_to(app: &TestApp, domain: &str) -> Option<String> {
    app.served_state
        .routing
        .lookup(domain)
        .await
        .unwrap()
        .map(|route| route.organization_id)
}

fn text<'a>(body: &'a Value, field: &str) -> &'a str {
    body[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} in {body}"))
}

async fn verify_finds_the_token_and_routes_the_domain(backend: Backend) {
    let mut dns = DnsServer::start(&[]);
    let app = spawn_with_dns(backend, &dns).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    let (status, created) = claim(&app, &token, &org, json!({"domain": "acme.test"})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["verified_by"], Value::Null);
    assert_eq!(created["last_checked_at"], Value::Null);
    assert_eq!(created["transfer"], false);
    let id = text(&created, "id");
    assert_eq!(routed_to(&app, "acme.test").await, None);

    dns.publish(&[(
        text(&created, "verification_host"),
        text(&created, "verification_txt"),
    )]);
    let verified = verify(&app, &token, &org, id).await;
    assert_eq!(verified["status"], "verified", "{verified}");
    assert_eq!(verified["verified_by"], "dns");
    assert_eq!(verified["verification_reason"], Value::Null);
    assert!(
        text(&verified, "last_checked_at").ends_with('Z'),
        "{verified}"
    );
    assert_eq!(get(&app, &token, &org, id).await.1, verified);
    assert_eq!(routed_to(&app, "acme.test").await, Some(org.clone()));

    // Verifying is updating: a reader may not.
    let reader = app
        .token_with_scopes(&token, &["read:organization_discovery_domains"])
        .await;
    let (status, refused) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org}/discovery-domains/{id}/verify"),
            &reader,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, missing) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org}/discovery-domains/dom_nope/verify"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert_eq!(missing["errorCode"], "inexistent_discovery_domain");
}

async fn verify_says_why_a_domain_stays_pending(backend: Backend) {
    let mut dns = DnsServer::start(&[]);
    let app = spawn_with_dns(backend, &dns).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    let (_, created) = claim(&app, &token, &org, json!({"domain": "acme.test"})).await;
    let id = text(&created, "id");
    let host = text(&created, "verification_host");

    let none = verify(&app, &token, &org, id).await;
    assert_eq!(none["status"], "pending");
    assert_eq!(
        none["verification_reason"],
        format!("No TXT record found at {host}")
    );
    assert!(none["last_checked_at"].is_string(), "{none}");

    dns.publish(&[
        (host, "v=spf1 -all"),
        (host, "switchyard-domain-verification=someone-elses"),
    ]);
    let wrong = verify(&app, &token, &org, id).await;
    assert_eq!(wrong["status"], "pending");
    assert_eq!(
        wrong["verification_reason"],
        format!("The TXT record at {host} does not hold this domain's verification_txt")
    );

    // A name the server refuses to answer: a DNS failure, said so.
    let (_, elsewhere) = claim(&app, &token, &org, json!({"domain": "acme.example"})).await;
    let failed = verify(&app, &token, &org, text(&elsewhere, "id")).await;
    assert_eq!(failed["status"], "pending");
    let why = text(&failed, "verification_reason");
    assert!(
        why.starts_with("The DNS lookup of _switchyard-verification.acme.example failed"),
        "{why}"
    );
    assert_eq!(routed_to(&app, "acme.test").await, None);
}

async fn a_record_gone_past_the_grace_period_demotes_the_domain(backend: Backend) {
    let mut dns = DnsServer::start(&[]);
    let app = spawn_with_dns(backend, &dns).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    let (_, created) = claim(&app, &token, &org, json!({"domain": "acme.test"})).await;
    let id = text(&created, "id");
    // The admin's word: never demoted by DNS.
    let (_, vouched) = claim(
        &app,
        &token,
        &org,
        json!({"domain": "vouched.test", "status": "verified"}),
    )
    .await;
    assert_eq!(vouched["verified_by"], "admin");

    // The periodic pass verifies a pending domain once its record is there.
    dns.publish(&[(
        text(&created, "verification_host"),
        text(&created, "verification_txt"),
    )]);
    check_due_domains(&app.served_state).await;
    let (_, verified) = get(&app, &token, &org, id).await;
    assert_eq!(verified["status"], "verified", "{verified}");
    assert_eq!(routed_to(&app, "acme.test").await, Some(org.clone()));

    // The record goes; the next re-check notices, the domain stays verified.
    dns.publish(&[]);
    app.clock.advance(7 * HOUR);
    // Tokens expire as the clock moves.
    let token = app.admin_token().await;
    check_due_domains(&app.served_state).await;
    let (_, missing) = get(&app, &token, &org, id).await;
    assert_eq!(missing["status"], "verified", "{missing}");
    assert!(
        text(&missing, "verification_reason").contains("stays verified until"),
        "{missing}"
    );
    assert_eq!(routed_to(&app, "acme.test").await, Some(org.clone()));

    // Within the grace period: still verified.
    app.clock.advance(5 * DAY);
    // Tokens expire as the clock moves.
    let token = app.admin_token().await;
    check_due_domains(&app.served_state).await;
    assert_eq!(get(&app, &token, &org, id).await.1["status"], "verified");

    // Past it: pending, no longer routed, and the reason says why.
    app.clock.advance(2 * DAY + HOUR);
    // Tokens expire as the clock moves.
    let token = app.admin_token().await;
    check_due_domains(&app.served_state).await;
    let (_, demoted) = get(&app, &token, &org, id).await;
    assert_eq!(demoted["status"], "pending", "{demoted}");
    assert_eq!(demoted["verified_by"], Value::Null);
    let why = text(&demoted, "verification_reason");
    assert!(why.starts_with("Demoted to pending"), "{why}");
    assert!(why.contains("No TXT record found"), "{why}");
    assert_eq!(routed_to(&app, "acme.test").await, None);

    let (_, still) = get(&app, &token, &org, text(&vouched, "id")).await;
    assert_eq!(still["status"], "verified");
    assert_eq!(still["verified_by"], "admin");
    assert_eq!(routed_to(&app, "vouched.test").await, Some(org.clone()));

    // The record back: verified again at the next check.
    dns.publish(&[(
        text(&created, "verification_host"),
        text(&created, "verification_txt"),
    )]);
    app.clock.advance(DAY);
    // Tokens expire as the clock moves.
    let token = app.admin_token().await;
    check_due_domains(&app.served_state).await;
    assert_eq!(get(&app, &token, &org, id).await.1["status"], "verified");
    assert_eq!(routed_to(&app, "acme.test").await, Some(org));
}

async fn a_transfer_moves_the_domain_to_the_organization_that_proves_control(backend: Backend) {
    let mut dns = DnsServer::start(&[]);
    let app = spawn_with_dns(backend, &dns).await;
    let token = app.admin_token().await;
    let old = create_org(&app, &token, "acme").await;
    let new = create_org(&app, &token, "globex").await;
    let (_, held) = claim(&app, &token, &old, json!({"domain": "acme.test"})).await;
    let host = text(&held, "verification_host").to_owned();
    let old_txt = text(&held, "verification_txt").to_owned();
    dns.publish(&[(&host, &old_txt)]);
    assert_eq!(
        verify(&app, &token, &old, text(&held, "id")).await["status"],
        "verified"
    );

    // By default a held domain is a 409 that does not name its holder.
    let (status, conflict) = claim(&app, &token, &new, json!({"domain": "ACME.test"})).await;
    assert_eq!(status, StatusCode::CONFLICT, "{conflict}");
    assert_eq!(conflict["statusCode"], 409);
    let message = text(&conflict, "message");
    assert!(
        message.contains("acme.test") && !message.contains(&old),
        "{message}"
    );

    // Opting in: a transfer claim with a token of its own.
    let (status, transfer) = claim(
        &app,
        &token,
        &new,
        json!({"domain": "acme.test", "transfer": true, "include_subdomains": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{transfer}");
    assert_eq!(transfer["transfer"], true);
    assert_eq!(transfer["status"], "pending");
    assert_eq!(transfer["verification_host"], host.as_str());
    let new_txt = text(&transfer, "verification_txt").to_owned();
    assert_ne!(new_txt, old_txt);
    let transfer_id = text(&transfer, "id").to_owned();
    assert_eq!(get(&app, &token, &new, &transfer_id).await.1, transfer);
    // Twice is a 409; with status verified or a connection, a 400.
    let (status, again) = claim(
        &app,
        &token,
        &new,
        json!({"domain": "acme.test", "transfer": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, vouched) = claim(
        &app,
        &token,
        &new,
        json!({"domain": "acme.test", "transfer": true, "status": "verified"}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{vouched}");
    assert_eq!(vouched["statusCode"], 400);

    // Only the holder's token there: nothing moves.
    let not_yet = verify(&app, &token, &new, &transfer_id).await;
    assert_eq!(not_yet["transfer"], true);
    assert!(
        text(&not_yet, "verification_reason").contains("does not hold"),
        "{not_yet}"
    );
    assert_eq!(routed_to(&app, "acme.test").await, Some(old.clone()));

    // The new owner's token published: the domain moves, verified by DNS.
    dns.publish(&[(&host, &old_txt), (&host, &new_txt)]);
    let moved = verify(&app, &token, &new, &transfer_id).await;
    assert_eq!(moved["transfer"], false, "{moved}");
    assert_eq!(moved["id"], transfer_id.as_str());
    assert_eq!(moved["status"], "verified");
    assert_eq!(moved["verified_by"], "dns");
    assert_eq!(moved["include_subdomains"], true);
    assert_eq!(moved["domain"], "acme.test");
    assert_eq!(
        get(&app, &token, &old, text(&held, "id")).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(routed_to(&app, "acme.test").await, Some(new.clone()));
    assert_eq!(routed_to(&app, "eu.acme.test").await, Some(new.clone()));
    // The old owner cannot take it back without a transfer of its own.
    let (status, _) = claim(&app, &token, &old, json!({"domain": "acme.test"})).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // A transfer flag on a free domain is an ordinary claim.
    let (status, free) = claim(
        &app,
        &token,
        &old,
        json!({"domain": "free.test", "transfer": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{free}");
    assert_eq!(free["transfer"], false);
}

async fn public_suffixes_cannot_be_claimed(backend: Backend) {
    let dns = DnsServer::start(&[]);
    let app = spawn_with_dns(backend, &dns).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    for suffix in ["co.uk", "CO.UK.", "com.au", "github.io", "blogspot.com"] {
        let (status, refused) = claim(&app, &token, &org, json!({"domain": suffix})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{suffix}: {refused}");
        assert_eq!(refused["statusCode"], 400);
        assert!(
            text(&refused, "message").contains("is a public suffix"),
            "{refused}"
        );
    }
    for registrable in ["acme.co.uk", "acme.github.io"] {
        let (status, body) = claim(&app, &token, &org, json!({"domain": registrable})).await;
        assert_eq!(status, StatusCode::CREATED, "{registrable}: {body}");
    }
}
