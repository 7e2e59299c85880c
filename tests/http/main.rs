//! Integration tests over HTTP: a real server on a free port, driven as a
//! client would, on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
mod support;

mod api_tokens;
mod auth0_request_types;
mod authorize_abuse;
mod backchannel;
mod bad_input;
mod client_auth;
mod clients;
mod connections;
mod consent;
mod cors;
mod discovery_domains;
mod domain_verification;
mod federation;
mod identities;
mod keys;
mod login;
mod logout;
mod management_auth;
mod nodes;
mod observability;
mod openapi;
mod organization_grants;
mod organization_picker;
mod organization_prompts;
mod organizations;
mod patch_null;
mod provider;
mod refresh;
mod refusals;
mod resource_servers;
mod routing;
mod saml_connections;
mod saml_flow;
mod saml_login;
mod saml_sp;
mod secrets_at_rest;
mod sessions;
mod signup;
mod slow_clients;
mod social_connections;
mod users;
