//! Enterprise SAML 2.0 connections (`strategy: samlp`), Switchyard as the
//! service provider, laid out as Auth0 does: entity ID
//! `urn:auth0:<tenant>:<connection>`, ACS `/login/callback?connection=NAME`
//! (HTTP-POST), SP metadata at `/samlp/metadata?connection=NAME`.
//!
//! ```text
//! idp        the IdP as the connection describes it (metadata or by hand)
//! sp         the service provider's side: entity ID, keys, metadata document
//! validate   a Response to a verified assertion, or a refusal that says why
//! decrypt    an EncryptedAssertion to the Assertion it hides
//! connector  the RedirectConnector: AuthnRequest out, Response back
//! logout     single logout: LogoutRequest out, LogoutResponse back
//! mapping    a verified assertion to an Identity (fieldsMap, vendor presets)
//! ```
//!
//! samael (over xmlsec) checks the XML signatures and reduces a document to
//! what they cover; everything it leaves open (DTDs, where a signature sits,
//! transforms, the conditions, the clock) is checked here, before and after.

pub mod connector;
pub mod decrypt;
pub mod idp;
pub mod logout;
mod mapping;
pub mod sp;
pub mod validate;
