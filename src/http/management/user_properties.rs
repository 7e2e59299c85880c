//! Auth0 user properties without effect here: kept ones (phone, username)
//! and requests for actions this server does not take (verification
//! messages; a chosen `user_id`, since ids are assigned here).

use serde::Deserialize;
use utoipa::ToSchema;

use super::inert::inert_settings;

inert_settings!(
    /// Auth0 user properties kept and returned without effect (README).
    UserInertSettings {
        phone_number: String,
        phone_verified: bool,
        username: String,
    }
);

/// Taken on creation and without effect: the user's id is assigned here,
/// and no verification email is sent.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct CreateUserActions {
    #[serde(rename = "user_id")]
    pub _user_id: Option<String>,
    #[serde(rename = "verify_email")]
    pub _verify_email: Option<bool>,
}

/// Taken on update and without effect: no verification message is sent,
/// and the user's one identity is the one updated.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct UpdateUserActions {
    #[serde(rename = "verify_email")]
    pub _verify_email: Option<bool>,
    #[serde(rename = "verify_phone_number")]
    pub _verify_phone_number: Option<bool>,
    #[serde(rename = "connection")]
    pub _connection: Option<String>,
    #[serde(rename = "client_id")]
    pub _client_id: Option<String>,
}
