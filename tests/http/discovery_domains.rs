//! Organization discovery domains through the Management API: Auth0's shape,
//! normalization, the 409 that names the domain and not its holder, public
//! mail domains, scopes.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::on_both_backends;
use crate::organizations::{create_connection, oidc_connection};
use crate::support::{Backend, TestApp, spawn};

on_both_backends!(
    discovery_domains_follow_auth0s_shape,
    idn_forms_are_one_domain,
    a_claimed_domain_conflicts_without_naming_its_holder,
    public_and_malformed_domains_are_refused,
    routing_to_a_connection_needs_it_enabled,
    discovery_domain_scopes_are_auth0s,
);

async fn create_org(app: &TestApp, token: &str, name: &str) -> String {
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            token,
            Some(json!({"name": name, "display_name": format!("{name} display")})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    org["id"].as_str().unwrap().to_owned()
}

fn domains_path(org: &str) -> String {
    format!("/api/v2/organizations/{org}/discovery-domains")
}

async fn claim(app: &TestApp, token: &str, org: &str, body: Value) -> (StatusCode, Value) {
    app.api(Method::POST, &domains_path(org), token, Some(body))
        .await
}

async fn discovery_domains_follow_auth0s_shape(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;

    let (status, created) = claim(&app, &token, &org, json!({"domain": "Acme.example."})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let id = created["id"].as_str().unwrap();
    assert!(id.starts_with("dom_"), "{id}");
    assert_eq!(created["domain"], "acme.example");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["use_for_organization_discovery"], true);
    assert_eq!(created["include_subdomains"], false);
    assert_eq!(created["connection_id"], Value::Null);
    assert_eq!(
        created["verification_host"],
        "_switchyard-verification.acme.example"
    );
    let txt = created["verification_txt"].as_str().unwrap();
    assert!(txt.len() >= 32, "{txt}");

    let one = format!("{}/{id}", domains_path(&org));
    let (status, got) = app.api(Method::GET, &one, &token, None).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));
    let (status, by_name) = app
        .api(
            Method::GET,
            &format!("{}/name/ACME.example", domains_path(&org)),
            &token,
            None,
        )
        .await;
    assert_eq!((status, &by_name), (StatusCode::OK, &created));

    // The admin vouches for a domain at creation (Auth0 allows status there).
    let (status, vouched) = claim(
        &app,
        &token,
        &org,
        json!({"domain": "eu.acme.example", "status": "verified", "use_for_organization_discovery": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{vouched}");
    assert_eq!(vouched["status"], "verified");
    assert_eq!(vouched["use_for_organization_discovery"], false);

    let (status, updated) = app
        .api(
            Method::PATCH,
            &one,
            &token,
            Some(json!({"status": "verified", "include_subdomains": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["status"], "verified");
    assert_eq!(updated["include_subdomains"], true);
    assert_eq!(updated["verification_txt"], created["verification_txt"]);

    // Auth0 pages this list by checkpoint: `{domains, next}`.
    let (status, page) = app
        .api(
            Method::GET,
            &format!("{}?take=1", domains_path(&org)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["domains"].as_array().unwrap().len(), 1);
    let next = page["next"].as_str().unwrap();
    let (_, rest) = app
        .api(
            Method::GET,
            &format!("{}?take=1&from={next}", domains_path(&org)),
            &token,
            None,
        )
        .await;
    assert_eq!(rest["domains"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("next").is_none(), "{rest}");
    assert_ne!(rest["domains"][0]["id"], page["domains"][0]["id"]);
    let (status, _) = app
        .api(
            Method::GET,
            &format!("{}?per_page=5", domains_path(&org)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let (status, _) = app.api(Method::DELETE, &one, &token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, gone) = app.api(Method::GET, &one, &token, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{gone}");
    assert_eq!(gone["statusCode"], 404);

    // Another organization's id does not reach this one's domains.
    let other = create_org(&app, &token, "globex").await;
    let vouched_id = vouched["id"].as_str().unwrap();
    let (status, _) = app
        .api(
            Method::GET,
            &format!("{}/{vouched_id}", domains_path(&other)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Deleting the organization frees its domains.
    let (status, _) = app
        .api(
            Method::DELETE,
            &format!("/api/v2/organizations/{org}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = claim(&app, &token, &other, json!({"domain": "eu.acme.example"})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = app
        .api(Method::GET, &domains_path(&org), &token, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn idn_forms_are_one_domain(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "buecher").await;
    let (status, created) = claim(&app, &token, &org, json!({"domain": "Bücher.example."})).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["domain"], "xn--bcher-kva.example");
    assert_eq!(
        created["verification_host"],
        "_switchyard-verification.xn--bcher-kva.example"
    );
    for same in [
        "bücher.example",
        "xn--bcher-kva.example",
        "XN--BCHER-KVA.EXAMPLE.",
    ] {
        let (status, body) = claim(&app, &token, &org, json!({"domain": same})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{same}: {body}");
        let (status, found) = app
            .api(
                Method::GET,
                &format!("{}/name/{same}", domains_path(&org)),
                &token,
                None,
            )
            .await;
        assert_eq!(
            (status, &found["id"]),
            (StatusCode::OK, &created["id"]),
            "{same}"
        );
    }
}

async fn a_claimed_domain_conflicts_without_naming_its_holder(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let acme = create_org(&app, &token, "acme").await;
    let globex = create_org(&app, &token, "globex").await;
    let (status, _) = claim(
        &app,
        &token,
        &acme,
        json!({"domain": "acme.example", "include_subdomains": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = claim(
        &app,
        &token,
        &globex,
        json!({"domain": "eu.initech.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    for (org, domain, wide) in [
        (&globex, "ACME.example", false),
        (&globex, "eu.acme.example", false),
        (&acme, "initech.example", true),
    ] {
        let (status, body) = claim(
            &app,
            &token,
            org,
            json!({"domain": domain, "include_subdomains": wide}),
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "{domain}: {body}");
        assert_eq!(body["statusCode"], 409);
        assert_eq!(body["errorCode"], "already_exists");
        let message = body["message"].as_str().unwrap();
        assert!(
            message.contains(&domain.to_lowercase()),
            "{domain}: {message}"
        );
        let text = body.to_string();
        for holder in [&acme, &globex] {
            assert!(!text.contains(holder.as_str()), "{text}");
        }
        for name in ["acme display", "globex display", "\"acme\"", "\"globex\""] {
            assert!(!text.contains(name), "{text}");
        }
    }

    // Widening a claim over another organization's domain: 409 too.
    let (status, narrow) = claim(&app, &token, &acme, json!({"domain": "initech.example"})).await;
    assert_eq!(status, StatusCode::CREATED, "{narrow}");
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("{}/{}", domains_path(&acme), narrow["id"].as_str().unwrap()),
            &token,
            Some(json!({"include_subdomains": true})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(!body.to_string().contains(globex.as_str()), "{body}");
}

async fn public_and_malformed_domains_are_refused(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    for public in [
        "gmail.com",
        "GMail.com.",
        "outlook.com",
        "proton.me",
        "gmx.de",
        "yahoo.co.uk",
    ] {
        let (status, body) = claim(&app, &token, &org, json!({"domain": public})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{public}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap()
                .contains(&public.to_lowercase().trim_end_matches('.').to_owned()),
            "{body}"
        );
        assert_eq!(body["errorCode"], "invalid_body");
    }
    for bad in [
        json!({"domain": "localhost"}),
        json!({"domain": "exa mple.com"}),
        json!({"domain": "10.0.0.1"}),
        json!({"domain": "a@b.com"}),
        json!({"domain": ""}),
        json!({"domain": 7}),
        json!({"domain": "ok.example", "status": "owned"}),
        json!({"domain": "ok.example", "verification_txt": "mine"}),
        json!({}),
    ] {
        let (status, body) = claim(&app, &token, &org, bad.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["statusCode"], 400, "{body}");
    }
    let (status, body) = app
        .api(
            Method::GET,
            &format!("{}/name/not%20a%20domain", domains_path(&org)),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = claim(&app, &token, "org_missing", json!({"domain": "ok.example"})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn routing_to_a_connection_needs_it_enabled(backend: Backend) {
    let app = spawn(backend).await;
    let token = app.admin_token().await;
    let org = create_org(&app, &token, "acme").await;
    let sso = create_connection(&app, &token, oidc_connection("acme-sso")).await;
    let (status, body) = claim(
        &app,
        &token,
        &org,
        json!({"domain": "acme.example", "connection_id": sso}),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = app
        .api(
            Method::POST,
            &format!("/api/v2/organizations/{org}/enabled_connections"),
            &token,
            Some(json!({"connection_id": sso})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, created) = claim(
        &app,
        &token,
        &org,
        json!({"domain": "acme.example", "connection_id": sso}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["connection_id"], sso.as_str());
    let one = format!("{}/{}", domains_path(&org), created["id"].as_str().unwrap());
    let (status, updated) = app
        .api(
            Method::PATCH,
            &one,
            &token,
            Some(json!({"connection_id": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["connection_id"], Value::Null);
    let (status, body) = app
        .api(
            Method::PATCH,
            &one,
            &token,
            Some(json!({"connection_id": "con_notenabled"})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

async fn discovery_domain_scopes_are_auth0s(backend: Backend) {
    let app = spawn(backend).await;
    let admin = app.admin_token().await;
    let org = create_org(&app, &admin, "acme").await;
    let (_, created) = claim(&app, &admin, &org, json!({"domain": "acme.example"})).await;
    let one = format!("{}/{}", domains_path(&org), created["id"].as_str().unwrap());
    let reader = app
        .token_with_scopes(&admin, &["read:organization_discovery_domains"])
        .await;
    let (status, _) = app.api(Method::GET, &one, &reader, None).await;
    assert_eq!(status, StatusCode::OK);
    let refused = [
        (
            Method::POST,
            domains_path(&org),
            Some(json!({"domain": "b.example"})),
            "create",
        ),
        (
            Method::PATCH,
            one.clone(),
            Some(json!({"status": "verified"})),
            "update",
        ),
        (Method::DELETE, one.clone(), None, "delete"),
    ];
    for (method, path, body, verb) in refused {
        let (status, answer) = app.api(method, &path, &reader, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{verb}: {answer}");
        assert_eq!(
            answer["message"],
            format!("Insufficient scope, expected any of: {verb}:organization_discovery_domains")
        );
    }
    let organizations_only = app.token_with_scopes(&admin, &["read:organizations"]).await;
    let (status, _) = app
        .api(Method::GET, &domains_path(&org), &organizations_only, None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}
