//! Where identities come from. This slice holds the password database; the
//! redirect-style upstreams (OAuth2, OIDC, SAML) implement one trait with
//! `begin` and `finish` in the connectors issue.

pub mod database;
