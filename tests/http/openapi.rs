//! The OpenAPI document describes what the Management API does. Every
//! answer the suite receives through `TestApp::api` is checked against it
//! (`support::openapi`); here, that the check refuses what the document
//! does not say, and that the shapes every operation shares are in it.

use std::panic::catch_unwind;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::openapi::check_response;

const CLIENT: &str = r#"{"client_id":"abc","name":"A","app_type":"spa","is_first_party":true,
  "callbacks":[],"allowed_logout_urls":[],"web_origins":[],"allowed_origins":[],"grant_types":[],
  "token_endpoint_auth_method":"none","organization_usage":"deny",
  "organization_require_behavior":"no_prompt","client_metadata":{},
  "jwt_configuration":{"alg":"RS256","lifetime_in_seconds":3600},
  "refresh_token":{"rotation_type":"rotating","expiration_type":"expiring","leeway":0,
    "token_lifetime":2592000,"idle_token_lifetime":1296000,"infinite_token_lifetime":false,
    "infinite_idle_token_lifetime":false}}"#;

fn refused(method: Method, path: &str, status: StatusCode, content_type: &str, body: &str) -> bool {
    let path = path.to_owned();
    let content_type = content_type.to_owned();
    let body = body.to_owned();
    catch_unwind(move || check_response(&method, &path, status, Some(&content_type), &body))
        .is_err()
}

#[test]
fn the_check_refuses_what_the_document_does_not_say() {
    let json = "application/json";
    // What the server does answer passes.
    assert!(!refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::OK,
        json,
        CLIENT
    ));
    let error = r#"{"statusCode":404,"error":"Not Found","message":"The client does not exist","errorCode":"inexistent_client"}"#;
    assert!(!refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::NOT_FOUND,
        json,
        error
    ));
    // A status the operation does not list.
    assert!(refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::IM_A_TEAPOT,
        json,
        error
    ));
    // A body its schema refuses: a wrong type, and an enum under another name.
    let wrong_type = CLIENT.replace(r#""client_id":"abc""#, r#""client_id":7"#);
    assert!(refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::OK,
        json,
        &wrong_type
    ));
    let rust_name = CLIENT.replace(r#""app_type":"spa""#, r#""app_type":"Spa""#);
    assert!(refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::OK,
        json,
        &rust_name
    ));
    // An error body without Auth0's fields.
    assert!(refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::NOT_FOUND,
        json,
        r#"{"error":"x"}"#
    ));
    // Another content type, and a body where the document has none.
    assert!(refused(
        Method::GET,
        "/api/v2/clients/abc",
        StatusCode::OK,
        "text/plain",
        CLIENT
    ));
    assert!(refused(
        Method::DELETE,
        "/api/v2/clients/abc",
        StatusCode::NO_CONTENT,
        json,
        "{}"
    ));
    assert!(!refused(
        Method::DELETE,
        "/api/v2/clients/abc",
        StatusCode::NO_CONTENT,
        "",
        ""
    ));
}

#[test]
fn lists_are_documented_in_each_of_auth0s_shapes() {
    let json = "application/json";
    let list = |body: &str| {
        refused(
            Method::GET,
            "/api/v2/clients?x=1",
            StatusCode::OK,
            json,
            body,
        )
    };
    assert!(!list(&format!("[{CLIENT}]")));
    assert!(!list(&format!(
        r#"{{"clients":[{CLIENT}],"start":0,"limit":50,"total":1}}"#
    )));
    assert!(!list(&format!(r#"{{"clients":[{CLIENT}],"next":"abc"}}"#)));
    assert!(!list(r#"{"clients":[]}"#));
    assert!(list(r#"{"roles":[]}"#));
    assert!(list(r#"{"clients":[],"start":0}"#));
    // A member's roles page by offset only: no checkpoint wrapper.
    let roles = "/api/v2/organizations/org_1/members/auth0%7C1/roles";
    assert!(refused(
        Method::GET,
        roles,
        StatusCode::OK,
        json,
        r#"{"roles":[],"next":"x"}"#
    ));
    assert!(!refused(
        Method::GET,
        roles,
        StatusCode::OK,
        json,
        r#"{"roles":[],"start":0,"limit":50,"total":0}"#
    ));
}

/// No token (401), a missing scope (403), and, where a body or a query is
/// read, a malformed one (400), another content type (415) and an oversized
/// body (413): every operation documents what it can answer, in the error
/// body's shape.
#[test]
fn every_operation_documents_its_refusals() {
    let document: Value = serde_json::to_value(switchyard::http::openapi()).unwrap();
    let error = "#/components/schemas/ApiErrorBody";
    let mut operations = 0;
    for (path, item) in document["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            let responses = &operation["responses"];
            let mut expected = vec!["401", "403"];
            if operation.get("requestBody").is_some() {
                expected.extend(["400", "413", "415"]);
            }
            if path.contains('{') {
                expected.push("404");
            }
            for status in expected {
                let schema = &responses[status]["content"]["application/json"]["schema"]["$ref"];
                assert_eq!(schema, error, "{method} {path} {status}");
            }
        }
    }
    assert!(operations > 60, "{operations} operations");
}

/// `wire_enum!` renames every variant: the document must publish the wire
/// names (`regular_web`), the ones the server reads and writes, never the
/// Rust names (`RegularWeb`).
#[test]
fn wire_enums_are_published_under_their_wire_names() {
    use switchyard::model::client::{
        AppType, GrantType, OrganizationRequireBehavior, OrganizationUsage, SigningAlg,
        TokenEndpointAuthMethod,
    };
    use switchyard::model::connection::{
        OidcMappingMode, PasswordPolicy, SamlDigestAlgorithm, SamlProtocolBinding,
        SamlSignatureAlgorithm,
    };
    use switchyard::model::resource_server::TokenDialect;

    macro_rules! wire_names {
        ($($name:ident),+) => {
            [$((stringify!($name), $name::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>())),+]
        };
    }
    let document: Value = serde_json::to_value(switchyard::http::openapi()).unwrap();
    let enums = wire_names!(
        AppType,
        GrantType,
        OrganizationRequireBehavior,
        OrganizationUsage,
        SigningAlg,
        TokenEndpointAuthMethod,
        OidcMappingMode,
        PasswordPolicy,
        SamlDigestAlgorithm,
        SamlProtocolBinding,
        SamlSignatureAlgorithm,
        TokenDialect
    );
    for (name, wire) in enums {
        let published = &document["components"]["schemas"][name]["enum"];
        assert_eq!(published, &serde_json::json!(wire), "{name}");
    }
}
