//! Universal login: `/authorize` and the server-rendered login pages (the
//! identifier and password steps, "continue as", the organization prompts),
//! and the responses that go back to the client. No JavaScript is needed to
//! log in; every form carries the transaction id and its CSRF token, and the
//! transaction only works from the browser holding
//! its cookie.

use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use crate::flows::authorize::{AuthorizeError, check_request};
use crate::flows::login::{self, LoginError, Transaction};
use crate::flows::request::{ClientResponse, OrganizationPrompt, ResponseMode};
use crate::flows::session::{self, SESSION_COOKIE, SessionUse};
use crate::flows::signup::signup_allowed;
use crate::flows::{OAuthError, OAuthErrorCode};
use crate::http::ClientIp;
use crate::routing::Decision;
use crate::state::AppState;
use crate::store::StoredSession;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/authorize", get(authorize_get).post(authorize_post))
        .route("/u/login", get(login_get).post(login_post))
        .route("/u/login/password", get(password_get).post(password_post))
        .route("/u/login/continue", post(continue_post))
        .route(
            "/u/organization",
            get(organization_get).post(organization_post),
        )
}

const COOKIE_PREFIX: &str = "sy_login_";

/// Each transaction has its own cookie, so logins in two tabs do not collide.
fn cookie_name(transaction_id: &str) -> String {
    format!(
        "{COOKIE_PREFIX}{}",
        transaction_id.get(..12).unwrap_or(transaction_id)
    )
}

pub(super) fn read_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    pub primary: String,
    pub page_background: String,
}

impl Brand {
    pub(super) fn default_brand() -> Self {
        Brand {
            name: "Switchyard".into(),
            logo_url: None,
            primary: "#1f4fd6".into(),
            page_background: "#f2f4f7".into(),
        }
    }
}

/// The organization's branding when the login is in one (colours are
/// validated hex values, the logo an https URL; askama escapes them too).
pub(super) async fn brand_for(state: &AppState, txn: Option<&Transaction>) -> Brand {
    let mut brand = Brand::default_brand();
    let Some(org_id) = txn.and_then(|t| t.request.organization_id.as_deref()) else {
        return brand;
    };
    if let Ok(org) = crate::flows::find_organization(state, org_id).await {
        brand.name = org.display_name.clone().unwrap_or_else(|| org.name.clone());
        if let Some(branding) = &org.branding {
            brand.logo_url = branding.logo_url.clone();
            if let Some(colors) = &branding.colors {
                brand.primary = colors.primary.clone();
                brand.page_background = colors.page_background.clone();
            }
        }
    }
    brand
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    brand: Brand,
    title: &'a str,
    detail: &'a str,
    request_id: &'a str,
}

#[derive(Template)]
#[template(path = "login_identifier.html")]
struct IdentifierPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    /// `prompt=select_account`: the session's account, offered first.
    continue_as: Option<&'a str>,
    signup_allowed: bool,
}

#[derive(Template)]
#[template(path = "login_password.html")]
struct PasswordPage<'a> {
    brand: Brand,
    transaction_id: &'a str,
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
    signup_allowed: bool,
}

pub(super) fn render(template: &impl Template, status: StatusCode) -> Response {
    render_with_form_target(template, status, None)
}

/// Renders a page. `form_target` is the client's redirect URI when a form on
/// the page ends the login: browsers apply CSP `form-action` to the redirect
/// that follows a form post, so its origin must be allowed too.
pub(super) fn render_with_form_target(
    template: &impl Template,
    status: StatusCode,
    form_target: Option<&str>,
) -> Response {
    let extra = form_target
        .and_then(origin_of)
        .map(|origin| format!(" {origin}"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'none'; style-src 'unsafe-inline'; img-src https:; form-action 'self'{extra}; frame-ancestors 'none'"
    );
    let csp = HeaderValue::from_str(&csp)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    match template.render() {
        Ok(html) => (
            status,
            [
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                (header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")),
                (header::CONTENT_SECURITY_POLICY, csp),
                // The pages' URLs carry the transaction: an organization's
                // logo host or the client's callback has no need for them.
                (
                    header::REFERRER_POLICY,
                    HeaderValue::from_static("same-origin"),
                ),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            Html(html),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response()
        }
    }
}

/// The origin of a redirect URI, for CSP `form-action`; `None` when it has
/// no usable one (unparsable, or an opaque origin such as a custom scheme's).
fn origin_of(uri: &str) -> Option<String> {
    url::Url::parse(uri)
        .ok()
        .map(|url| url.origin().ascii_serialization())
        .filter(|origin| origin != "null")
}

fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

pub(super) fn error_page(
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    detail: &str,
) -> Response {
    render(
        &ErrorPage {
            brand: Brand::default_brand(),
            title,
            detail,
            request_id: request_id(headers),
        },
        status,
    )
}

async fn authorize_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    authorize(&state, &headers, &params).await
}

/// OIDC Core §3.1.2.1: the authorization endpoint takes POST (a form) as well.
async fn authorize_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> Response {
    authorize(&state, &headers, &params).await
}

/// An authorization request: answered from the browser's session when it
/// can be, else the start of a login.
async fn authorize(state: &AppState, headers: &HeaderMap, params: &[(String, String)]) -> Response {
    let request = match check_request(state, params).await {
        Ok(request) => request,
        Err(AuthorizeError::Page { title, detail }) => {
            return error_page(headers, StatusCode::BAD_REQUEST, &title, &detail);
        }
        Err(AuthorizeError::ToClient(response)) => return to_client(&response),
    };
    let browser_session = match browser_session(state, headers).await {
        Ok(found) => found,
        Err(e) => return login_error(headers, e.into()),
    };
    let login_required = || {
        let error = OAuthError::new(OAuthErrorCode::LoginRequired, "The user must log in");
        to_client(&request.error_response(state.issuer.identifier(), &error))
    };
    let use_of_session = session::decide(
        &request,
        browser_session.as_ref(),
        crate::clock::now_unix_seconds(),
    );
    match use_of_session {
        SessionUse::LoginRequired => return login_required(),
        SessionUse::Silent => {
            if let Some(found) = &browser_session {
                match login::authorize_with_session(state, &request, found).await {
                    Ok(Some(response)) => return to_client(&response),
                    Ok(None) if request.prompt.iter().any(|p| p == "none") => {
                        return login_required();
                    }
                    Ok(None) => {}
                    Err(e) => return login_error(headers, e),
                }
            }
        }
        SessionUse::Interactive | SessionUse::PickOrganization => {}
    }
    let started = match &browser_session {
        Some(found) if use_of_session == SessionUse::PickOrganization => {
            login::begin_organization_pick(state, &request, found)
                .await
                .map(|started| (started, "/u/organization"))
        }
        _ => {
            let page = match request.screen_hint.as_deref() {
                Some("signup") => "/u/signup",
                _ => "/u/login",
            };
            let previous_session = browser_session.as_ref().map(|s| s.id.as_str());
            login::begin(state, &request, previous_session)
                .await
                .map(|started| (started, page))
        }
    };
    match started {
        Ok((started, page)) => {
            let cookie = format!(
                "{}={}; Path=/u/; HttpOnly; SameSite=Lax; Max-Age=1800{}",
                cookie_name(&started.transaction_id),
                started.browser_secret,
                secure_attribute(state),
            );
            let mut response =
                Redirect::to(&format!("{page}?state={}", started.transaction_id)).into_response();
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(e) => login_error(headers, e),
    }
}

#[derive(Template)]
#[template(path = "form_post.html")]
struct FormPostPage<'a> {
    redirect_uri: &'a str,
    params: &'a [(String, String)],
    nonce: &'a str,
}

/// Sends an authorization response to the client: a redirect with the
/// parameters in the query, or (`response_mode=form_post`) a page that posts
/// them, by script or by a button without one.
fn to_client(response: &ClientResponse) -> Response {
    match response.mode {
        ResponseMode::Query => Redirect::to(&response.query_url()).into_response(),
        ResponseMode::FormPost => {
            let nonce = crate::model::ids::random_alphanumeric(22);
            let page = FormPostPage {
                redirect_uri: &response.redirect_uri,
                params: &response.params,
                nonce: &nonce,
            };
            let origin = origin_of(&response.redirect_uri).unwrap_or_else(|| "'none'".into());
            let csp = format!(
                "default-src 'none'; script-src 'nonce-{nonce}'; form-action {origin}; frame-ancestors 'none'"
            );
            match (page.render(), HeaderValue::from_str(&csp)) {
                (Ok(html), Ok(csp)) => (
                    [
                        (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
                        (header::CONTENT_SECURITY_POLICY, csp),
                    ],
                    Html(html),
                )
                    .into_response(),
                _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error").into_response(),
            }
        }
    }
}

/// The SSO session's cookie. Over https it is `__Host-` prefixed: browsers
/// then only accept it set `Secure`, for `/`, without a `Domain`, so a
/// sibling subdomain cannot plant a session of its own (login CSRF).
fn session_cookie_name(state: &AppState) -> &'static str {
    if state.issuer.identifier().starts_with("https:") {
        "__Host-sy_session"
    } else {
        SESSION_COOKIE
    }
}

/// The `Set-Cookie` value for the session cookie (`max_age_secs` 0 clears it).
pub(super) fn session_cookie(state: &AppState, secret: &str, max_age_secs: i64) -> String {
    format!(
        "{}={secret}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{}",
        session_cookie_name(state),
        secure_attribute(state)
    )
}

/// The browser's live SSO session, from its cookie.
pub(super) async fn browser_session(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<Option<StoredSession>, crate::store::StoreError> {
    session::current(state, read_cookie(headers, session_cookie_name(state))).await
}

/// Cookies are `Secure` whenever the issuer is https (not in the explicit
/// `--insecure-http` development mode, where browsers would drop them).
pub(super) fn secure_attribute(state: &AppState) -> &'static str {
    if state.issuer.identifier().starts_with("https:") {
        "; Secure"
    } else {
        ""
    }
}

pub(super) fn login_error(headers: &HeaderMap, error: LoginError) -> Response {
    match error {
        LoginError::Expired => error_page(
            headers,
            StatusCode::BAD_REQUEST,
            "Login session expired",
            "This login has expired or was started in another browser. Go back to the application and try again.",
        ),
        LoginError::Forgery => error_page(
            headers,
            StatusCode::FORBIDDEN,
            "Invalid form",
            "The form could not be verified. Go back to the application and try again.",
        ),
        LoginError::ToClient(response) => to_client(&response),
        LoginError::TooManyAttempts { retry_after_secs } => {
            let mut response = error_page(
                headers,
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many failed attempts. Try again later.",
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            response
        }
        LoginError::Retry(message) => {
            error_page(headers, StatusCode::BAD_REQUEST, "Cannot log in", &message)
        }
        LoginError::Internal(detail) => {
            tracing::error!(%detail, "login failed");
            error_page(
                headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
    }
}

#[derive(Deserialize)]
pub(super) struct StateQuery {
    pub(super) state: String,
}

pub(super) async fn load(
    state: &AppState,
    headers: &HeaderMap,
    transaction_id: &str,
) -> Result<Transaction, LoginError> {
    login::load(
        state,
        transaction_id,
        read_cookie(headers, &cookie_name(transaction_id)),
    )
    .await
}

/// Loads the transaction a form was posted for and checks the form's CSRF token.
pub(super) async fn load_form(
    state: &AppState,
    headers: &HeaderMap,
    transaction_id: &str,
    csrf: &str,
) -> Result<Transaction, LoginError> {
    let txn = load(state, headers, transaction_id).await?;
    txn.check_csrf(csrf)?;
    Ok(txn)
}

async fn identifier_page(
    state: &AppState,
    txn: &Transaction,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let brand = brand_for(state, Some(txn)).await;
    let continue_as = offered_account(state, txn).await;
    render_with_form_target(
        &IdentifierPage {
            brand,
            client_name: &txn.client.name,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email: txn.email.as_deref().unwrap_or(""),
            error,
            continue_as: continue_as.as_deref(),
            signup_allowed: signup_allowed(state, txn).await.unwrap_or(false),
        },
        status,
        continue_as
            .as_ref()
            .map(|_| txn.request.redirect_uri.as_str()),
    )
}

/// With `prompt=select_account`, the email of the session the login began
/// in, to offer "Continue as …".
async fn offered_account(state: &AppState, txn: &Transaction) -> Option<String> {
    if !txn.request.prompt.iter().any(|p| p == "select_account") {
        return None;
    }
    let session = state
        .store
        .get_session(txn.previous_session_id.as_deref()?)
        .await
        .ok()?;
    Some(
        state
            .store
            .get_user(&session.user_id)
            .await
            .ok()?
            .user
            .email,
    )
}

async fn password_page(
    state: &AppState,
    txn: &Transaction,
    email: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    let brand = brand_for(state, Some(txn)).await;
    render_with_form_target(
        &PasswordPage {
            brand,
            transaction_id: &txn.id,
            csrf: &txn.csrf_token,
            email,
            error,
            signup_allowed: signup_allowed(state, txn).await.unwrap_or(false),
        },
        status,
        Some(&txn.request.redirect_uri),
    )
}

async fn login_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    match load(&state, &headers, &q.state).await {
        Ok(txn) if txn.pending_organization_prompt() == Some(OrganizationPrompt::BeforeLogin) => {
            Redirect::to(&format!("/u/organization?state={}", txn.id)).into_response()
        }
        Ok(txn) => identifier_page(&state, &txn, None, StatusCode::OK).await,
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
struct IdentifierForm {
    state: String,
    csrf: String,
    email: String,
}

async fn login_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<IdentifierForm>,
) -> Response {
    let txn = match load_form(&state, &headers, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    match login::submit_identifier(&state, &txn, &form.email).await {
        Ok(Decision::Password { .. }) => {
            Redirect::to(&format!("/u/login/password?state={}", txn.id)).into_response()
        }
        Ok(Decision::Buttons(_)) => {
            identifier_page(
                &state,
                &txn,
                Some("Single sign-on connections are not available yet."),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Ok(Decision::Reject(rejection)) => {
            identifier_page(
                &state,
                &txn,
                Some(rejection.message()),
                StatusCode::BAD_REQUEST,
            )
            .await
        }
        Err(LoginError::Retry(message)) => {
            identifier_page(&state, &txn, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => login_error(&headers, e),
    }
}

async fn password_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    match load(&state, &headers, &q.state).await {
        Ok(txn) => match txn.email.clone() {
            Some(email) => password_page(&state, &txn, &email, None, StatusCode::OK).await,
            None => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
        },
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
struct PasswordForm {
    state: String,
    csrf: String,
    password: String,
}

async fn password_post(
    State(state): State<AppState>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    Form(form): Form<PasswordForm>,
) -> Response {
    let txn = match load_form(&state, &headers, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    match login::submit_password(&state, &txn, &form.password, client_ip).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            let email = txn.email.clone().unwrap_or_default();
            password_page(
                &state,
                &txn,
                &email,
                Some(&message),
                StatusCode::UNAUTHORIZED,
            )
            .await
        }
        Err(e) => login_error(&headers, e),
    }
}

/// The browser's last step of a login: clear the transaction's cookie, set
/// the new session's, and follow the redirect back to the client.
pub(super) fn finished_response(
    state: &AppState,
    txn: &Transaction,
    finished: login::Finished,
) -> Response {
    let mut response = match &finished.next {
        login::Next::Client(to) => to_client(to),
        login::Next::Page(path) => Redirect::to(path).into_response(),
    };
    let mut cookies = Vec::new();
    if finished.transaction_ended {
        cookies.push(format!(
            "{}=; Path=/u/; HttpOnly; SameSite=Lax; Max-Age=0",
            cookie_name(&txn.id)
        ));
    }
    if let Some(session) = finished.session_cookie {
        cookies.push(session_cookie(state, &session.secret, session.max_age_secs));
    }
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

#[derive(Deserialize)]
struct ContinueForm {
    state: String,
    csrf: String,
}

/// "Continue as …" on the identifier page (`prompt=select_account`).
async fn continue_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<ContinueForm>,
) -> Response {
    let txn = match load_form(&state, &headers, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let browser_session = match browser_session(&state, &headers).await {
        Ok(found) => found,
        Err(e) => return login_error(&headers, e.into()),
    };
    match login::continue_with_session(&state, &txn, browser_session.as_ref()).await {
        Ok(finished) => finished_response(&state, &txn, finished),
        Err(LoginError::Retry(message)) => {
            identifier_page(&state, &txn, Some(&message), StatusCode::BAD_REQUEST).await
        }
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Template)]
#[template(path = "organization_name.html")]
struct OrganizationNamePage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    error: Option<&'a str>,
}

struct OrganizationChoice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "organization_pick.html")]
struct OrganizationPickPage<'a> {
    brand: Brand,
    client_name: &'a str,
    transaction_id: &'a str,
    csrf: &'a str,
    organizations: Vec<OrganizationChoice>,
    error: Option<&'a str>,
}

/// The organization prompts of a client that requires one: its name before
/// the login (`pre_login_prompt`), or a pick among the user's organizations
/// after it (`post_login_prompt`).
async fn organization_page(
    state: &AppState,
    headers: &HeaderMap,
    txn: &Transaction,
    error: Option<&str>,
) -> Response {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    match txn.pending_organization_prompt() {
        Some(OrganizationPrompt::BeforeLogin) => render(
            &OrganizationNamePage {
                brand: Brand::default_brand(),
                client_name: &txn.client.name,
                transaction_id: &txn.id,
                csrf: &txn.csrf_token,
                error,
            },
            status,
        ),
        Some(OrganizationPrompt::AfterLogin) if txn.authenticated_session_id.is_some() => {
            match login::organizations_to_pick(state, txn).await {
                Ok((_, organizations)) => render_with_form_target(
                    &OrganizationPickPage {
                        brand: Brand::default_brand(),
                        client_name: &txn.client.name,
                        transaction_id: &txn.id,
                        csrf: &txn.csrf_token,
                        organizations: organizations
                            .into_iter()
                            .map(|o| OrganizationChoice {
                                label: o.display_name.unwrap_or_else(|| o.name.clone()),
                                id: o.id,
                            })
                            .collect(),
                        error,
                    },
                    status,
                    Some(&txn.request.redirect_uri),
                ),
                Err(e) => login_error(headers, e),
            }
        }
        _ => Redirect::to(&format!("/u/login?state={}", txn.id)).into_response(),
    }
}

async fn organization_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StateQuery>,
) -> Response {
    match load(&state, &headers, &q.state).await {
        Ok(txn) => organization_page(&state, &headers, &txn, None).await,
        Err(e) => login_error(&headers, e),
    }
}

#[derive(Deserialize)]
struct OrganizationForm {
    state: String,
    csrf: String,
    organization: String,
}

async fn organization_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<OrganizationForm>,
) -> Response {
    let txn = match load_form(&state, &headers, &form.state, &form.csrf).await {
        Ok(txn) => txn,
        Err(e) => return login_error(&headers, e),
    };
    let result = match txn.pending_organization_prompt() {
        Some(OrganizationPrompt::BeforeLogin) => {
            login::submit_organization_name(&state, &txn, &form.organization)
                .await
                .map(|()| Redirect::to(&format!("/u/login?state={}", txn.id)).into_response())
        }
        Some(OrganizationPrompt::AfterLogin) => {
            login::submit_organization_pick(&state, &txn, &form.organization)
                .await
                .map(|finished| finished_response(&state, &txn, finished))
        }
        None => Ok(Redirect::to(&format!("/u/login?state={}", txn.id)).into_response()),
    };
    match result {
        Ok(response) => response,
        Err(LoginError::Retry(message)) => {
            organization_page(&state, &headers, &txn, Some(&message)).await
        }
        Err(e) => login_error(&headers, e),
    }
}
