//! Auth0 properties taken without effect: every property of Auth0's create
//! and update requests is accepted (tools written for Auth0 send them), but
//! many name features this server does not have. Those are typed here (a
//! value of the wrong type is refused), kept as sent and returned unchanged;
//! the README lists them.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// A JSON object, in the type lists of [`inert_settings!`].
pub type Object = Map<String, Value>;

/// A struct of Auth0 properties without effect, each `Option<Option<T>>`:
/// left out, `null` (which removes a stored value, as on PATCH), or a value.
/// Flattened into a request or response body.
macro_rules! inert_settings {
    ($(#[$meta:meta])* $name:ident { $($field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub struct $name {
            $(
                #[serde(default, deserialize_with = "super::nullable", skip_serializing_if = "Option::is_none")]
                #[schema(value_type = Option<$ty>)]
                pub $field: Option<Option<$ty>>,
            )*
        }
    };
}
pub(crate) use inert_settings;

/// Applies the properties `sent` to the `stored` ones: a value replaces,
/// `null` removes.
pub fn merge<T: Serialize>(stored: &mut Object, sent: &T) {
    if let Ok(Value::Object(sent)) = serde_json::to_value(sent) {
        for (name, value) in sent {
            if value.is_null() {
                stored.remove(&name);
            } else {
                stored.insert(name, value);
            }
        }
    }
}

/// The properties `sent`, for a new resource.
pub fn stored<T: Serialize>(sent: &T) -> Object {
    let mut properties = Object::new();
    merge(&mut properties, sent);
    properties
}

/// The stored properties, to return. A value stored under another type (a
/// property whose type changed since) is returned as nothing rather than
/// failing the read.
pub fn returned<T: DeserializeOwned + Default>(stored: &Object) -> T {
    serde_json::from_value(Value::Object(stored.clone())).unwrap_or_default()
}
