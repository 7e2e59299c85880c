//! Identity to user: a STAND-IN with the signature the `upstream-identities`
//! branch provides (see the federation helpers' contract), so that the
//! upstream round trip can be built and tested before it lands. It finds
//! the connection's user with the identity's email, or provisions one; the
//! real one links by (connection, upstream subject) and applies the
//! connection's linking policy. Replaced by that branch's file on merge.

use crate::connectors::{Identity, UpstreamError};
use crate::flows::login::LoginError;
use crate::model::connection::Connection;
use crate::model::ids;
use crate::model::user::User;
use crate::state::AppState;

pub async fn user_for_identity(
    state: &AppState,
    connection: &Connection,
    identity: &Identity,
) -> Result<User, LoginError> {
    let Some(email) = identity.email.clone() else {
        return Err(LoginError::Upstream {
            connection: connection.name.clone(),
            error: UpstreamError::MissingClaim("email"),
        });
    };
    if let Some((found, _)) = state
        .store
        .find_password_user(&connection.id, &email)
        .await?
    {
        if found.user.blocked {
            return Err(LoginError::Retry("This user is blocked.".into()));
        }
        return Ok(found.user);
    }
    let user = User {
        user_id: ids::new_id(ids::USER),
        connection_id: connection.id.clone(),
        email,
        email_verified: identity.email_verified,
        name: identity.name.clone(),
        given_name: identity.given_name.clone(),
        family_name: identity.family_name.clone(),
        nickname: identity.nickname.clone(),
        picture: identity.picture.clone(),
        blocked: false,
        app_metadata: serde_json::Map::new(),
        user_metadata: serde_json::Map::new(),
    };
    state.store.insert_user(&user, None).await?;
    Ok(user)
}
