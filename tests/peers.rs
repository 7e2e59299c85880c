//! Interop with software others wrote: each test starts Switchyard on its own
//! TLS (the generated dev certificate) and runs a real peer against it. If a
//! peer cannot run (no Node.js, no `npm ci` in tests/peers), the test fails.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::path::PathBuf;
use std::time::Duration;

use support::{BOOTSTRAP_ID, BOOTSTRAP_SECRET, Backend, spawn_configured};
use switchyard::config::TlsMode;

fn peers_dir() -> PathBuf {
    std::env::var_os("SWITCHYARD_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/peers"))
}

async fn spawn_tls() -> support::TestApp {
    spawn_configured(Backend::Sqlite, |config| config.tls = TlsMode::Dev).await
}

/// [`spawn_tls`] whose outbound client may reach loopback, where the
/// upstream IdPs of these tests listen.
async fn spawn_tls_reaching_loopback() -> support::TestApp {
    spawn_configured(Backend::Sqlite, |config| {
        config.tls = TlsMode::Dev;
        config.outbound.allowed_networks = vec!["127.0.0.0/8".parse().unwrap()];
    })
    .await
}

/// A port on 127.0.0.1 free for a peer to listen on.
fn free_loopback_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where the upstream-IdP tests' app (tests/peers/metahexa_app.mjs) is sent back.
const METAHEXA_PORTAL_CALLBACK: &str = "http://localhost:3000/callback";

/// The app of the upstream-IdP tests, registered for logins into organizations.
async fn metahexa_portal(app: &support::TestApp, token: &str) -> serde_json::Value {
    let (status, client) = app
        .api(
            reqwest::Method::POST,
            "/api/v2/clients",
            token,
            Some(serde_json::json!({
            "name": "Metahexa portal", "app_type": "regular_web",
            "callbacks": [METAHEXA_PORTAL_CALLBACK], "organization_usage": "require"})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{client}");
    client
}

/// What tests/peers/metahexa_app.mjs reads (the portal logging people into
/// `org`), the upstream's port and Switchyard's TLS trust.
fn metahexa_app_env(
    app: &support::TestApp,
    client: &serde_json::Value,
    org: &serde_json::Value,
    upstream_port: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("SWITCHYARD_ISSUER", app.issuer.clone()),
        (
            "SWITCHYARD_CLIENT_ID",
            client["client_id"].as_str().unwrap().to_owned(),
        ),
        (
            "SWITCHYARD_CLIENT_SECRET",
            client["client_secret"].as_str().unwrap().to_owned(),
        ),
        (
            "SWITCHYARD_REDIRECT_URI",
            METAHEXA_PORTAL_CALLBACK.to_owned(),
        ),
        (
            "SWITCHYARD_ORG_NAME",
            org["name"].as_str().unwrap().to_owned(),
        ),
        ("SWITCHYARD_ORG_ID", org["id"].as_str().unwrap().to_owned()),
        ("UPSTREAM_PORT", upstream_port.to_string()),
        (
            "NODE_EXTRA_CA_CERTS",
            app.dir.path().join("tls/cert.pem").display().to_string(),
        ),
    ]
}

/// Runs `node --test <script>` in tests/peers with `env`; fails with the
/// peer's output unless it exits 0.
async fn run_node_test(script: &str, env: &[(&str, String)]) {
    let dir = peers_dir();
    assert!(
        dir.join("node_modules").is_dir(),
        "{}/node_modules is missing: run `npm ci` there (scripts/setup.sh test does)",
        dir.display()
    );
    let mut command = tokio::process::Command::new("node");
    command
        .arg("--test")
        .arg(script)
        .current_dir(&dir)
        .kill_on_drop(true);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the peer test did not finish within 120 s")
        .expect("cannot start node: is Node.js installed?");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} failed ({}):\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}",
        output.status
    );
    println!("{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth0_node_sdk_manages_organizations_and_connections() {
    let app = spawn_tls().await;
    let port = app.base.rsplit(':').next().unwrap().to_owned();
    let cert = app.dir.path().join("tls/cert.pem");
    let federated = federated_user(&app).await;
    run_node_test(
        "auth0_management.mjs",
        &[
            ("SWITCHYARD_DOMAIN", format!("localhost:{port}")),
            ("SWITCHYARD_CLIENT_ID", BOOTSTRAP_ID.to_owned()),
            ("SWITCHYARD_CLIENT_SECRET", BOOTSTRAP_SECRET.to_owned()),
            ("SWITCHYARD_FEDERATED_USER_ID", federated),
            ("NODE_EXTRA_CA_CERTS", cert.display().to_string()),
        ],
    )
    .await;
}

/// A user provisioned from an upstream identity (`sdk-jane` of the OIDC
/// connection `sdk-upstream`), as a first login through it makes one: the
/// SDK links it to a database user. Its id.
async fn federated_user(app: &support::TestApp) -> String {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let token = app.admin_token().await;
    let (status, connection) = app
        .api(Method::POST, "/api/v2/connections", &token, Some(json!({
            "name": "sdk-upstream", "strategy": "oidc",
            "options": {"client_id": "c", "client_secret": "s", "issuer": "https://idp.example.com"}})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let connection = app
        .served_store
        .get_connection(connection["id"].as_str().unwrap())
        .await
        .unwrap();
    let identity = switchyard::connectors::Identity {
        connection_id: connection.id.clone(),
        subject: "sdk-jane".into(),
        email: Some("jane@sdk.example".into()),
        email_verified: true,
        name: Some("Jane".into()),
        given_name: None,
        family_name: None,
        nickname: None,
        picture: None,
        groups: Vec::new(),
        raw: serde_json::Map::new(),
        tenant: switchyard::connectors::UpstreamTenant::default(),
    };
    switchyard::flows::federation::user_for_identity(&app.served_state, &connection, &identity)
        .await
        .unwrap()
        .user_id
}

/// Creates, through the Management API, an organization with a database
/// connection (membership assigned on login), a user and a web client; the
/// peers name the organization by name, which the tenant then allows.
pub async fn seed_login_tenant(app: &support::TestApp) -> Vec<(&'static str, String)> {
    use reqwest::Method;
    use serde_json::json;
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let (_, client) = app
        .api(Method::POST, "/api/v2/clients", &token, Some(json!({
            "name": "RP", "app_type": "regular_web", "callbacks": ["http://localhost:3000/callback"],
            "allowed_logout_urls": ["http://localhost:3000/logged-out"],
            "organization_usage": "allow"})))
        .await;
    let client_id = client["client_id"].as_str().unwrap().to_owned();
    let (_, connection) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({
            "name": "users", "strategy": "auth0", "enabled_clients": [client_id]})),
        )
        .await;
    let (_, org) = app
        .api(Method::POST, "/api/v2/organizations", &token, Some(json!({
            "name": "hoekstra", "display_name": "Hoekstra",
            "enabled_connections": [{"connection_id": connection["id"], "assign_membership_on_login": true}]})))
        .await;
    let (status, user) = app
        .api(Method::POST, "/api/v2/users", &token, Some(json!({
            "connection": "users", "email": "alice@hoekstra.example", "password": "alice-password-1"})))
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{user}");
    vec![
        ("SWITCHYARD_ISSUER", app.issuer.clone()),
        ("SWITCHYARD_CLIENT_ID", client_id),
        (
            "SWITCHYARD_CLIENT_SECRET",
            client["client_secret"].as_str().unwrap().to_owned(),
        ),
        (
            "SWITCHYARD_REDIRECT_URI",
            "http://localhost:3000/callback".to_owned(),
        ),
        (
            "SWITCHYARD_LOGOUT_URI",
            "http://localhost:3000/logged-out".to_owned(),
        ),
        ("SWITCHYARD_ORG_NAME", "hoekstra".to_owned()),
        ("SWITCHYARD_ORG_ID", org["id"].as_str().unwrap().to_owned()),
        ("SWITCHYARD_USER_EMAIL", "alice@hoekstra.example".to_owned()),
        ("SWITCHYARD_USER_PASSWORD", "alice-password-1".to_owned()),
        (
            "NODE_EXTRA_CA_CERTS",
            app.dir.path().join("tls/cert.pem").display().to_string(),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_logs_in_to_an_organization_with_pkce() {
    let app = spawn_tls().await;
    let env = seed_login_tenant(&app).await;
    run_node_test("openid_client.mjs", &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn express_openid_connect_app_reads_org_id_from_its_session() {
    let app = spawn_tls().await;
    let port = free_loopback_port();
    let mut env = seed_login_tenant(&app).await;
    // Register the Express app's callback on the seeded client, and the
    // method the middleware authenticates with (its default, HTTP Basic).
    let token = app.admin_token().await;
    let client_id = env
        .iter()
        .find(|(k, _)| *k == "SWITCHYARD_CLIENT_ID")
        .unwrap()
        .1
        .clone();
    let (status, body) = app
        .api(
            reqwest::Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            Some(serde_json::json!({
                "callbacks": [format!("http://localhost:{port}/callback")],
                "token_endpoint_auth_method": "client_secret_basic",
                "allowed_logout_urls": [format!("http://localhost:{port}")],
                "oidc_logout": {
                    "backchannel_logout_urls": [format!("http://127.0.0.1:{port}/backchannel-logout")]
                },
            })),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    env.push(("SWITCHYARD_APP_PORT", port.to_string()));
    run_node_test("express_openid_connect.mjs", &env).await;
}

/// metahexa's enterprise IdP is oidc-provider on loopback (the outbound
/// allowlist admits 127.0.0.0/8, as an intranet IdP's network would be):
/// two connections to it, `back_channel` (code + PKCE + client secret,
/// email from userinfo) and `front_channel` (an ID token by form post),
/// enabled on metahexa with membership assigned on login. The peer script
/// runs the IdP and the app (openid-client), and tampers with the IdP's
/// real tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_as_metahexas_idp_logs_its_users_in_through_switchyard() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let app = spawn_tls_reaching_loopback().await;
    let upstream_port = free_loopback_port();
    let upstream = format!("http://127.0.0.1:{upstream_port}");
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let client = metahexa_portal(&app, &token).await;
    let mut enabled = Vec::new();
    for (name, options) in [
        (
            "metahexa-sso",
            json!({"type": "back_channel", "issuer": upstream, "client_id": "switchyard-back",
                   "client_secret": "upstream-secret", "scope": "openid profile email",
                   "attribute_map": {"mapping_mode": "use_map", "userinfo_scope": "openid email"},
                   "upstream_params": {"ui_locales": {"value": "nl"}, "max_age": {"alias": "max_age"},
                                       // Reserved: never sent (the IdP refuses a repeated
                                       // parameter, and the login would fail).
                                       "redirect_uri": {"value": "https://attacker.example/cb"}}}),
        ),
        (
            "metahexa-sso-front",
            json!({"type": "front_channel", "issuer": upstream, "client_id": "switchyard-front",
                   "scope": "openid profile email"}),
        ),
    ] {
        let (status, connection) = app
            .api(
                Method::POST,
                "/api/v2/connections",
                &token,
                // Enabled for the application as well as on the organization (as Auth0 requires).
                Some(json!({"name": name, "strategy": "oidc", "options": options,
                            "enabled_clients": [client["client_id"]]})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{connection}");
        enabled.push(json!({"connection_id": connection["id"],
                            "assign_membership_on_login": true, "show_as_button": true}));
    }
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({
            "name": "metahexa", "display_name": "Metahexa", "enabled_connections": enabled})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    // Its people's addresses are in metahexa's verified domain (the email-domain guard).
    app.verified_domain(&token, org["id"].as_str().unwrap(), "metahexa.example")
        .await;
    // Home-realm discovery: hrd.metahexa.example routes to metahexa-sso, and
    // the portal takes requests without an organization (the domain picks it).
    let (status, domain) = app
        .api(
            Method::POST,
            &format!(
                "/api/v2/organizations/{}/discovery-domains",
                org["id"].as_str().unwrap()
            ),
            &token,
            Some(
                json!({"domain": "hrd.metahexa.example", "status": "verified",
                        "connection_id": enabled[0]["connection_id"]}),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{domain}");
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{}", client["client_id"].as_str().unwrap()),
            &token,
            Some(json!({"organization_require_behavior": "post_login_prompt"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut env = metahexa_app_env(&app, &client, &org, upstream_port);
    env.extend([
        ("UPSTREAM_CLIENT_SECRET", "upstream-secret".to_owned()),
        ("BACK_CONNECTION", "metahexa-sso".to_owned()),
        ("FRONT_CONNECTION", "metahexa-sso-front".to_owned()),
    ]);
    run_node_test("oidc_provider_upstream.mjs", &env).await;
}

/// The same IdP as a plain OAuth 2.0 provider: one `oauth2` connection names
/// its authorization, token and userinfo endpoints (the ID token it also
/// sends is ignored), enabled on metahexa with membership assigned on login.
/// The peer script runs the IdP and the app; afterwards the Management API
/// shows the user's identity as Auth0 does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_provider_as_a_plain_oauth2_provider_logs_metahexas_users_in_through_switchyard() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let app = spawn_tls_reaching_loopback().await;
    let upstream_port = free_loopback_port();
    let upstream = format!("http://127.0.0.1:{upstream_port}");
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let client = metahexa_portal(&app, &token).await;
    let (status, connection) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({"name": "metahexa-oauth2", "strategy": "oauth2",
                "display_name": "Metahexa Partners", "enabled_clients": [client["client_id"]],
                "options": {"authorizationURL": format!("{upstream}/auth"),
                    "tokenURL": format!("{upstream}/token"), "userInfoURL": format!("{upstream}/me"),
                    "client_id": "switchyard-oauth2", "client_secret": "upstream-secret",
                    "scope": "openid email profile"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "metahexa", "display_name": "Metahexa",
                "enabled_connections": [{"connection_id": connection["id"],
                    "assign_membership_on_login": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    let email = "ana@metahexa.example";
    let mut env = metahexa_app_env(&app, &client, &org, upstream_port);
    env.extend([
        ("UPSTREAM_CLIENT_ID", "switchyard-oauth2".to_owned()),
        ("UPSTREAM_CLIENT_SECRET", "upstream-secret".to_owned()),
        ("OAUTH2_CONNECTION", "metahexa-oauth2".to_owned()),
        ("OAUTH2_LABEL", "Metahexa Partners".to_owned()),
        ("USER_EMAIL", email.to_owned()),
    ]);
    run_node_test("oidc_provider_oauth2_upstream.mjs", &env).await;

    // One user, made from the upstream identity, a member of metahexa.
    let (status, users) = app
        .api(
            Method::GET,
            &format!("/api/v2/users-by-email?email={email}"),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let users = users.as_array().unwrap();
    assert_eq!(users.len(), 1, "{users:?}");
    let user = &users[0];
    // oidc-provider's subject is the account id the script logs in: the email.
    assert_eq!(
        user["user_id"],
        format!("oauth2|metahexa-oauth2|{email}"),
        "{user}"
    );
    assert_eq!(user["email_verified"], true, "{user}");
    assert_eq!(
        user["identities"],
        json!([{"connection": "metahexa-oauth2", "provider": "oauth2",
                "user_id": email, "isSocial": true}]),
        "{user}"
    );
    let (status, members) = app
        .api(
            Method::GET,
            &format!(
                "/api/v2/organizations/{}/members",
                org["id"].as_str().unwrap()
            ),
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{members}");
    assert!(
        members
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == user["user_id"]),
        "{members}"
    );
}

/// metahexa's IdP speaks SAML: samlify on loopback, with keys the script
/// makes. The script creates its `samlp` connections through the
/// Management API (with the token passed here: their options carry the
/// IdP's metadata or certificate, which only it knows), enables each on
/// metahexa with membership on login, imports Switchyard's SP metadata
/// into the IdP, logs ana in through each (Redirect and POST bindings,
/// signed and encrypted assertions, an IdP certificate rollover, an SP key
/// rotation, IdP-initiated SSO to the portal's `initiate_login_uri`,
/// served by the script with the dev certificate), has every forgery
/// of the IdP's real responses refused, and last logs ana out through
/// `/v2/logout` and the IdP's SingleLogoutService (single logout). Afterwards the Management API
/// shows ana's SAML identity and no user made from a forgery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn samlify_as_metahexas_saml_idp_logs_its_users_in_through_switchyard() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let app = spawn_tls_reaching_loopback().await;
    let upstream_port = free_loopback_port();
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let client = metahexa_portal(&app, &token).await;
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({"name": "metahexa", "display_name": "Metahexa"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    // Its people's addresses are in metahexa's verified domain (the email-domain guard).
    app.verified_domain(&token, org["id"].as_str().unwrap(), "metahexa.example")
        .await;
    let tls = app.dir.path().join("tls");
    let mut env = metahexa_app_env(&app, &client, &org, upstream_port);
    env.extend([
        ("SWITCHYARD_TENANT", app.served_state.tenant_name.clone()),
        ("SWITCHYARD_MGMT_TOKEN", token.clone()),
        (
            "SWITCHYARD_TLS_CERT",
            tls.join("cert.pem").display().to_string(),
        ),
        (
            "SWITCHYARD_TLS_KEY",
            tls.join("key.pem").display().to_string(),
        ),
    ]);
    // The IdP half alone first (samlify's own service provider parses its
    // answers and forgeries): when this passes and the run below fails, the
    // fault is on Switchyard's side.
    run_node_test(
        "samlify_idp.mjs",
        &[
            ("SAML_IDP_SELF_CHECK", "1".to_owned()),
            ("UPSTREAM_PORT", "0".to_owned()),
        ],
    )
    .await;
    run_node_test("samlify_idp.mjs", &env).await;

    // ana's user came from the metadata connection's first login, with
    // Auth0's SAML identity: provider samlp, the NameID as its user id.
    let (status, users) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=ana%40metahexa.example",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{users}");
    let identity = users
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|u| u["identities"].as_array().unwrap())
        .find(|i| i["connection"] == "metahexa-saml")
        .unwrap_or_else(|| panic!("no identity of metahexa-saml: {users}"));
    assert_eq!(
        (
            &identity["provider"],
            &identity["user_id"],
            &identity["isSocial"]
        ),
        (
            &json!("samlp"),
            &json!("ana@metahexa.example"),
            &json!(false)
        ),
        "{users}"
    );
    // No forgery made anyone.
    for email in [
        "mallory%40metahexa.example",
        "ana%40metahexa.example.evil.example",
    ] {
        let (status, users) = app
            .api(
                Method::GET,
                &format!("/api/v2/users-by-email?email={email}"),
                &token,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{users}");
        assert_eq!(users, json!([]), "a forged response made a user");
    }
}

/// base64(SHA-256(SubjectPublicKeyInfo)) of a PEM certificate, for
/// Chromium's `--ignore-certificate-errors-spki-list`.
fn spki_sha256(pem: &[u8]) -> String {
    use base64::Engine;
    use sha2::Digest;
    let (_, parsed) = x509_parser::pem::parse_x509_pem(pem).unwrap();
    let cert = parsed.parse_x509().unwrap();
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(cert.public_key().raw))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_through_the_pages() {
    let app = spawn_tls().await;
    let mut env = seed_login_tenant(&app).await;
    let pem = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    env.push(("SWITCHYARD_CERT_SPKI", spki_sha256(&pem)));
    env.push(("SWITCHYARD_ARTIFACTS_DIR", artifacts.display().to_string()));
    run_node_test("chromium_login.mjs", &env).await;
    assert!(
        artifacts.join("login-password-page.png").is_file(),
        "no screenshot saved"
    );
}

/// Headless Chromium through metahexa's enterprise IdP (oidc-provider on
/// loopback, with its own login and consent pages): Switchyard's login page
/// offers the OIDC connection (`back_channel`, PKCE) as a button named by
/// its display_name, the upstream's pages log the person in, and the app
/// (openid-client; a third-party client, so through Switchyard's consent
/// page too) gets an ID token with metahexa's `org_id` and the upstream's
/// email. The connection links by proof (`prove_existing`): a person whose
/// email a password account of metahexa has proves it on `/u/link`, and the
/// Management API shows that user with both identities. A sign-in cancelled
/// at the upstream ends on a page naming the connection. A `front_channel`
/// connection's answer, posted cross-site by the browser, resumes the login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_logs_in_through_an_upstream_idp() {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    let app = spawn_tls_reaching_loopback().await;
    let mut env = seed_login_tenant(&app).await;
    let seeded = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1.clone();
    let client_id = seeded("SWITCHYARD_CLIENT_ID");
    let upstream_port = free_loopback_port();
    let token = app.admin_token().await;
    // A third-party app: Switchyard asks the person's consent too.
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/clients/{client_id}"),
            &token,
            Some(json!({"is_first_party": false})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, sso) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({
                "name": "metahexa-workforce", "display_name": "Metahexa Workforce ID",
                "strategy": "oidc", "enabled_clients": [client_id],
                "options": {"type": "back_channel", "issuer": format!("http://127.0.0.1:{upstream_port}"),
                            "client_id": "switchyard", "client_secret": "upstream-secret",
                            "scope": "openid profile email", "connection_settings": {"pkce": "S256"},
                            "account_linking": "prove_existing"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{sso}");
    let (status, front) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({
                "name": "metahexa-kiosk", "display_name": "Metahexa Kiosk ID", "strategy": "oidc",
                "enabled_clients": [client_id],
                "options": {"type": "front_channel", "issuer": format!("http://127.0.0.1:{upstream_port}"),
                            "client_id": "switchyard-front", "scope": "openid profile email"}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{front}");
    // metahexa signs in with its IdP, or with a password account of the
    // seeded database connection (whose users the linking proves).
    let (_, connections) = app
        .api(Method::GET, "/api/v2/connections", &token, None)
        .await;
    let users = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "users")
        .unwrap();
    let (status, org) = app
        .api(
            Method::POST,
            "/api/v2/organizations",
            &token,
            Some(json!({
                "name": "metahexa", "display_name": "Metahexa", "enabled_connections": [
                    {"connection_id": users["id"], "assign_membership_on_login": true},
                    {"connection_id": sso["id"], "assign_membership_on_login": true, "show_as_button": true},
                    {"connection_id": front["id"], "assign_membership_on_login": true, "show_as_button": true}]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{org}");
    // Its people's addresses are in metahexa's verified domain (the email-domain guard).
    app.verified_domain(&token, org["id"].as_str().unwrap(), "metahexa.example")
        .await;
    let (status, bo) = app
        .api(Method::POST, "/api/v2/users", &token, Some(json!({
            "connection": "users", "email": "bo@metahexa.example", "password": "bo-password-at-switchyard"})))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{bo}");
    let bo_id = bo["user_id"].as_str().unwrap().to_owned();

    env.retain(|(k, _)| !k.starts_with("SWITCHYARD_ORG_") && !k.starts_with("SWITCHYARD_USER_"));
    let pem = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    let artifacts = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    env.extend([
        (
            "SWITCHYARD_CLIENT_NAME",
            body["name"].as_str().unwrap().to_owned(),
        ),
        ("SWITCHYARD_ORG_NAME", "metahexa".to_owned()),
        ("SWITCHYARD_ORG_ID", org["id"].as_str().unwrap().to_owned()),
        ("SWITCHYARD_CERT_SPKI", spki_sha256(&pem)),
        ("SWITCHYARD_ARTIFACTS_DIR", artifacts.display().to_string()),
        ("UPSTREAM_PORT", upstream_port.to_string()),
        ("UPSTREAM_CLIENT_SECRET", "upstream-secret".to_owned()),
        ("CONNECTION_LABEL", "Metahexa Workforce ID".to_owned()),
        ("FRONT_CONNECTION_LABEL", "Metahexa Kiosk ID".to_owned()),
        ("EXISTING_USER_ID", bo_id.clone()),
        (
            "EXISTING_USER_PASSWORD",
            "bo-password-at-switchyard".to_owned(),
        ),
    ]);
    run_node_test("chromium_federated.mjs", &env).await;

    // The proof linked the upstream identity to the password account.
    let (status, found) = app
        .api(
            Method::GET,
            "/api/v2/users-by-email?email=bo%40metahexa.example",
            &token,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let [user] = found.as_array().unwrap().as_slice() else {
        panic!("one user has bo's email: {found}");
    };
    assert_eq!(user["user_id"], bo_id.as_str());
    let identities: Vec<(&str, &str, bool)> = user["identities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["connection"].as_str().unwrap(),
                i["provider"].as_str().unwrap(),
                i["isSocial"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        identities,
        [
            ("users", "auth0", false),
            ("metahexa-workforce", "oidc", false)
        ],
        "{user}"
    );
    assert_eq!(user["identities"][1]["user_id"], "bo@metahexa.example");
    for screenshot in ["federated-login-page.png", "federated-upstream-login.png"] {
        assert!(
            artifacts.join(screenshot).is_file(),
            "no {screenshot} saved"
        );
    }
}

/// A single-page app in Chromium: its page, served from an origin its
/// client registers (`http://127.0.0.1:{port}`, in `allowed_origins`), is
/// the callback and calls the token endpoint and `/userinfo` with `fetch()`;
/// the same page served from `http://localhost:{port}`, which no client
/// registers, is refused by the browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_spa_calls_the_token_endpoint_from_its_registered_origin() {
    use reqwest::Method;
    use serde_json::json;
    let app = spawn_tls().await;
    let mut env = seed_login_tenant(&app).await;
    let port = free_loopback_port();
    let origin = format!("http://127.0.0.1:{port}");
    let token = app.admin_token().await;
    let (status, spa) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({
            "name": "SPA", "app_type": "spa", "callbacks": [format!("{origin}/callback")],
            "allowed_origins": [origin]})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::CREATED, "{spa}");
    let (_, connections) = app
        .api(Method::GET, "/api/v2/connections", &token, None)
        .await;
    let users = connections
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "users")
        .unwrap();
    let mut enabled = users["enabled_clients"].as_array().unwrap().clone();
    enabled.push(spa["client_id"].clone());
    let (status, body) = app
        .api(
            Method::PATCH,
            &format!("/api/v2/connections/{}", users["id"].as_str().unwrap()),
            &token,
            Some(json!({"enabled_clients": enabled})),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let pem = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    env.push(("SWITCHYARD_CERT_SPKI", spki_sha256(&pem)));
    env.push((
        "SWITCHYARD_SPA_CLIENT_ID",
        spa["client_id"].as_str().unwrap().to_owned(),
    ));
    env.push(("SWITCHYARD_APP_PORT", port.to_string()));
    run_node_test("chromium_spa.mjs", &env).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dev_certificate_is_trusted_by_a_rust_client() {
    let app = spawn_tls().await;
    let cert = std::fs::read(app.dir.path().join("tls/cert.pem")).unwrap();
    assert!(
        app.issuer.starts_with("https://localhost:"),
        "{}",
        app.issuer
    );
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&cert).unwrap())
        .build()
        .unwrap();
    let discovery: serde_json::Value = client
        .get(format!("{}.well-known/openid-configuration", app.issuer))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(discovery["issuer"], app.issuer.as_str());
    // Without trusting the certificate, the handshake fails.
    let untrusted = reqwest::Client::new()
        .get(format!("{}healthz", app.issuer))
        .send()
        .await;
    assert!(
        untrusted.is_err(),
        "a self-signed certificate was trusted by default"
    );
}

/// One multi-tenant IdP shared by 10,000 organizations: oidc-provider plays
/// Entra/Workspace, its ID tokens carrying `tid` or `hd`. The organizations
/// are seeded straight into the store (one transaction), each enabling the
/// one `oidc` connection with its own `upstream_tenant_id` and owning the
/// verified domain of its people. The portal requires an organization and
/// lets the login decide it (`post_login_prompt`): the script logs in a
/// person of a `tid` tenant and one of an `hd` domain without naming an
/// organization, checks each token's `org_id`, and sees an unmapped tenant
/// refused, and a tenant entering another organization's login refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_organizations_share_one_idp_routed_by_the_upstream_tenant() {
    shared_idp(0..10_000, false).await;
}

/// The shared IdP as Entra's multi-tenant endpoint: the connection's issuer
/// is `…/organizations/v2.0`, whose metadata announces `…/{tenantid}/v2.0`,
/// and oidc-provider signs every token as tenant `tid-04711`. The person of
/// that tenant lands in its organization; one whose `tid` is another
/// tenant's than the token's `iss` names is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entra_issuer_template_takes_each_token_of_its_own_tenant_only() {
    shared_idp([4711, 9001].into_iter(), true).await;
}

/// Organizations `tenant-{i}` for each `i` of `indices` share one oidc
/// connection, and the script runs against them (`entra_template`: the
/// upstream announces Entra's issuer template).
async fn shared_idp(indices: impl ExactSizeIterator<Item = usize>, entra_template: bool) {
    use reqwest::{Method, StatusCode};
    use serde_json::json;
    use switchyard::model::connection::{EnabledConnection, EnabledConnectionRequest, Strategy};
    use switchyard::model::domain::{DiscoveryDomain, DomainStatus};
    use switchyard::model::organization::Organization;
    let count = indices.len();
    let app = spawn_tls_reaching_loopback().await;
    let upstream_port = free_loopback_port();
    let token = app.admin_token().await;
    app.allow_organization_names(&token, true).await;
    let (status, client) = app
        .api(
            Method::POST,
            "/api/v2/clients",
            &token,
            Some(json!({"name": "Shared portal", "app_type": "regular_web",
                "callbacks": [METAHEXA_PORTAL_CALLBACK], "organization_usage": "require",
                "organization_require_behavior": "post_login_prompt"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{client}");
    let upstream = format!("http://127.0.0.1:{upstream_port}");
    let issuer = if entra_template {
        format!("{upstream}/organizations/v2.0")
    } else {
        upstream
    };
    let (status, connection) = app
        .api(
            Method::POST,
            "/api/v2/connections",
            &token,
            Some(json!({"name": "shared-entra", "strategy": "oidc",
                "enabled_clients": [client["client_id"]],
                "options": {"type": "back_channel", "issuer": issuer,
                    "client_id": "switchyard-shared", "client_secret": "upstream-secret",
                    "scope": "openid profile email", "organization_from_upstream_tenant": true}})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{connection}");
    let connection_id = connection["id"].as_str().unwrap();

    let store = app.store().await;
    let started = std::time::Instant::now();
    let mut organizations = Vec::with_capacity(count);
    let mut domains = Vec::with_capacity(count);
    for i in indices {
        let org = Organization {
            id: format!("org_shared{i:05}"),
            name: format!("tenant-{i:05}"),
            display_name: None,
            branding: None,
            metadata: serde_json::Map::new(),
            inert_settings: serde_json::Map::new(),
            domain_membership: Default::default(),
        };
        let enabled = EnabledConnection::new_default(&org.id, connection_id)
            .apply(
                Strategy::Oidc,
                &EnabledConnectionRequest {
                    assign_membership_on_login: Some(true),
                    upstream_tenant_id: Some(Some(format!("tid-{i:05}"))),
                    ..Default::default()
                },
            )
            .unwrap();
        domains.push(DiscoveryDomain {
            status: DomainStatus::Verified,
            ..DiscoveryDomain::new(&org.id, format!("tenant-{i:05}.example"))
        });
        organizations.push((org, vec![enabled]));
    }
    store.insert_organizations(&organizations).await.unwrap();
    let organizations_seeded = started.elapsed();
    for domain in &domains {
        store.insert_discovery_domain(domain).await.unwrap();
    }
    println!(
        "# seeded {count} organizations in {organizations_seeded:?}, their domains by {:?}",
        started.elapsed()
    );
    // The app's cached view of organizations is refreshed (seeded behind its back).
    app.served_state.forget_everything().await;

    let env = vec![
        ("SWITCHYARD_ISSUER", app.issuer.clone()),
        (
            "SWITCHYARD_CLIENT_ID",
            client["client_id"].as_str().unwrap().to_owned(),
        ),
        (
            "SWITCHYARD_CLIENT_SECRET",
            client["client_secret"].as_str().unwrap().to_owned(),
        ),
        (
            "SWITCHYARD_REDIRECT_URI",
            METAHEXA_PORTAL_CALLBACK.to_owned(),
        ),
        // The organization of the in-context refusal (a tenant that is not its own).
        ("SWITCHYARD_ORG_NAME", "tenant-09001".to_owned()),
        ("SWITCHYARD_ORG_ID", "org_shared09001".to_owned()),
        ("UPSTREAM_PORT", upstream_port.to_string()),
        ("UPSTREAM_CLIENT_SECRET", "upstream-secret".to_owned()),
        ("SHARED_CONNECTION", "shared-entra".to_owned()),
        ("TID_ORG_ID", "org_shared04711".to_owned()),
        ("HD_ORG_ID", "org_shared09001".to_owned()),
        (
            "NODE_EXTRA_CA_CERTS",
            app.dir.path().join("tls/cert.pem").display().to_string(),
        ),
        (
            "ENTRA_TEMPLATE",
            if entra_template { "1" } else { "0" }.to_owned(),
        ),
    ];
    run_node_test("oidc_provider_shared_idp.mjs", &env).await;
}
