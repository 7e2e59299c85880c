//! How every universal-login page is answered: the security headers and CSP
//! of a rendered page, the organization's branding, the error page, and the
//! authorization response that goes back to the client (a redirect, or the
//! auto-posting form of `response_mode=form_post`).

use askama::Template;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::connectors::UpstreamError;
use crate::flows::login::{LoginError, Transaction};
use crate::flows::request::{ClientResponse, ResponseMode};
use crate::state::AppState;

pub struct Brand {
    pub name: String,
    pub logo_url: Option<String>,
    pub primary: String,
    pub page_background: String,
}

impl Brand {
    pub(in crate::http) fn default_brand() -> Self {
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
pub(in crate::http) async fn brand_for(state: &AppState, txn: Option<&Transaction>) -> Brand {
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

pub(in crate::http) fn render(template: &impl Template, status: StatusCode) -> Response {
    render_with_form_target(template, status, None)
}

/// Renders a page. `form_target` is the client's redirect URI when a form on
/// the page ends the login: browsers apply CSP `form-action` to the redirect
/// that follows a form post, so its origin must be allowed too.
pub(in crate::http) fn render_with_form_target(
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

pub(in crate::http) fn error_page(
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
pub(in crate::http) fn to_client(response: &ClientResponse) -> Response {
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

/// An error page that tells the browser when to try again (`Retry-After`).
fn retry_later(
    headers: &HeaderMap,
    status: StatusCode,
    title: &str,
    detail: &str,
    retry_after_secs: i64,
) -> Response {
    let mut response = error_page(headers, status, title, detail);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

/// The page (or the response to the client) for a login that cannot go on.
pub(in crate::http) fn login_error(headers: &HeaderMap, error: LoginError) -> Response {
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
        LoginError::TooManyAttempts { retry_after_secs } => retry_later(
            headers,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many attempts",
            "Too many failed attempts. Try again later.",
            retry_after_secs,
        ),
        LoginError::TooManyLoginStarts { retry_after_secs } => retry_later(
            headers,
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-ins",
            "Too many sign-ins were started from your network. Try again later.",
            retry_after_secs,
        ),
        LoginError::Retry(message) => {
            error_page(headers, StatusCode::BAD_REQUEST, "Cannot log in", &message)
        }
        LoginError::Busy { retry_after_secs } => retry_later(
            headers,
            StatusCode::SERVICE_UNAVAILABLE,
            "Busy",
            "Many people are signing in right now. Try again in a moment.",
            retry_after_secs,
        ),
        LoginError::ProveExisting(_) => {
            // Answered by its caller with the linking page; reaching here
            // means a caller did not.
            tracing::error!("a login to link to an existing account was not sent on");
            error_page(
                headers,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Please try again later.",
            )
        }
        LoginError::Upstream { connection, error } => {
            let status = match error {
                UpstreamError::Unreachable(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::BAD_REQUEST,
            };
            error_page(
                headers,
                status,
                &format!("Cannot sign in with {connection}"),
                &format!(
                    "{} Go back to the application and try again, or ask your administrator.",
                    error.public_message()
                ),
            )
        }
        LoginError::UpstreamStateUnknown => error_page(
            headers,
            StatusCode::BAD_REQUEST,
            "Sign-in response not expected",
            "This answer from an identity provider was already used, has expired, or was not asked for. Go back to the application and try again.",
        ),
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
