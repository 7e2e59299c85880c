//! The service provider's side of a SAML connection: its entity ID, its
//! keys (signing AuthnRequests, decrypting assertions; rotated with an
//! overlap) and the metadata document an IdP's admin imports.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use samael::key_info::{KeyInfo, X509Data};
use samael::metadata::{
    EncryptionMethod, Endpoint, EntityDescriptor, HTTP_POST_BINDING, HTTP_REDIRECT_BINDING,
    IndexedEndpoint, KeyDescriptor, SpSsoDescriptor,
};
use samael::traits::ToXml;

use crate::keys::{certificate_der, generate_pkcs8, self_signed_certificate};
use crate::model::client::SigningAlg;
use crate::model::connection::{Connection, ConnectionOptions};
use crate::model::ids;
use crate::store::{Store, StoreError, StoredSpKey};

/// How long a key that stopped signing still decrypts: an IdP that fetched
/// the metadata before the rotation may go on encrypting to it that long.
pub const DECRYPTION_OVERLAP_MS: i64 = 14 * 24 * 3600 * 1000;

/// The algorithms an IdP may encrypt assertions with, as the metadata lists
/// them: what `decrypt` accepts (data: AES-CBC and AES-GCM; key transport:
/// RSA-OAEP).
const ENCRYPTION_METHODS: &[&str] = &[
    "http://www.w3.org/2009/xmlenc11#aes128-gcm",
    "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
    "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
];

/// The NameID formats the connector takes as the upstream subject.
const NAME_ID_FORMATS: &[&str] = &[
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
];

/// The SP entity ID of `connection`: `options.entityId` when set, else
/// Auth0's `urn:auth0:<tenant>:<connection name>`.
pub fn entity_id(tenant: &str, connection: &Connection) -> String {
    if let ConnectionOptions::Saml(options) = &connection.options {
        if let Some(entity_id) = options.sp_entity_id() {
            return entity_id.to_owned();
        }
    }
    format!("urn:auth0:{tenant}:{}", connection.name)
}

/// The ACS of `connection_name` (Auth0's): the callback URL (`callback_url`,
/// `<issuer>/login/callback`) with `?connection=<name>`, the name
/// query-encoded.
pub fn acs_url(callback_url: &str, connection_name: &str) -> String {
    let query = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("connection", connection_name)
        .finish();
    format!("{callback_url}?{query}")
}

/// The `samlp` connection called `name` (what an ACS or a metadata URL's
/// `?connection=` names), if there is one.
pub async fn connection_named(
    store: &crate::store::Store,
    name: &str,
) -> Result<Option<Connection>, crate::store::StoreError> {
    let filter = crate::store::ConnectionFilter {
        strategy: Some(crate::model::connection::Strategy::Saml),
        name: Some(name.to_owned()),
    };
    Ok(store
        .list_connections(&filter, &crate::store::Page::all())
        .await?
        .into_iter()
        .next())
}

/// One key pair of the service provider.
#[derive(Clone)]
pub struct SpKey {
    pub id: String,
    /// PKCS#8 DER; sealed at rest.
    pub private_key_pkcs8: Vec<u8>,
    pub certificate_der: Vec<u8>,
}

impl std::fmt::Debug for SpKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A connection's SP keys as they stand now.
#[derive(Debug, Clone)]
pub struct SpKeys {
    /// The current key: it signs AuthnRequests.
    pub signing: SpKey,
    /// Every key that may decrypt an assertion now: the current one, the
    /// next (already published), the previous until its overlap ends.
    pub decrypting: Vec<SpKey>,
    /// The keys the metadata document lists: the current and the next.
    pub published: Vec<SpKey>,
}

/// The SP keys of `connection_id`, its first key made on first use.
pub async fn keys(store: &Store, connection_id: &str) -> Result<SpKeys, StoreError> {
    let stored = stored_keys(store, connection_id).await?;
    let in_state = |state: &'static str| stored.iter().filter(move |k| k.state == state);
    let current = in_state("current").next().ok_or_else(incomplete)?;
    let next = in_state("next").next().ok_or_else(incomplete)?;
    let signing = sp_key(current)?;
    let published = vec![signing.clone(), sp_key(next)?];
    // Newest first: the likeliest to have encrypted.
    let mut previous = in_state("previous").collect::<Vec<_>>();
    previous.sort_by_key(|k| std::cmp::Reverse((k.created_at, k.id.clone())));
    let mut decrypting = published.clone();
    for key in previous {
        decrypting.push(sp_key(key)?);
    }
    Ok(SpKeys {
        signing,
        decrypting,
        published,
    })
}

/// The connection's SP keys as stored, that still decrypt, oldest first;
/// a current and a next key made when it has none (its first use). Of
/// nodes making them at once one wins (the store's unique index), the
/// others read its keys.
pub async fn stored_keys(
    store: &Store,
    connection_id: &str,
) -> Result<Vec<StoredSpKey>, StoreError> {
    let keys = store.list_saml_sp_keys(connection_id).await?;
    let missing = missing_states(&keys);
    if missing.is_empty() {
        return Ok(keys);
    }
    let connection = store.get_connection(connection_id).await?;
    let made = missing
        .iter()
        .map(|state| new_key(store, &connection, state))
        .collect::<Result<Vec<_>, _>>()?;
    match store.insert_saml_sp_keys(&made).await {
        Ok(()) => {}
        Err(StoreError::Conflict(name)) if name == "saml_sp_keys_connection_state_key" => {}
        Err(e) => return Err(e),
    }
    let keys = store.list_saml_sp_keys(connection_id).await?;
    if missing_states(&keys).is_empty() {
        Ok(keys)
    } else {
        Err(incomplete())
    }
}

/// Rotates the connection's SP keys: the next key (published since the last
/// rotation) signs from now on, the current one decrypts for
/// [`DECRYPTION_OVERLAP_MS`] more, and a new next key is published. Answers
/// the new next key.
pub async fn rotate(store: &Store, connection_id: &str) -> Result<StoredSpKey, StoreError> {
    stored_keys(store, connection_id).await?;
    let connection = store.get_connection(connection_id).await?;
    let new_next = new_key(store, &connection, "next")?;
    store
        .rotate_saml_sp_keys(&new_next, DECRYPTION_OVERLAP_MS)
        .await?;
    Ok(new_next)
}

fn missing_states(keys: &[StoredSpKey]) -> Vec<&'static str> {
    ["current", "next"]
        .into_iter()
        .filter(|state| !keys.iter().any(|k| k.state == *state))
        .collect()
}

fn incomplete() -> StoreError {
    StoreError::Corrupt("saml_sp_keys: a connection lacks its current or next key".into())
}

/// A new RSA-2048 key of `connection` and its self-signed certificate, named
/// after the connection.
fn new_key(store: &Store, connection: &Connection, state: &str) -> Result<StoredSpKey, StoreError> {
    let failed = |e: crate::keys::KeyError| StoreError::Corrupt(format!("making an SP key: {e}"));
    let created_at = store.clock().now_unix_millis();
    let pkcs8 = generate_pkcs8(SigningAlg::RS256).map_err(failed)?;
    let certificate =
        self_signed_certificate(SigningAlg::RS256, &pkcs8, &connection.name, created_at)
            .map_err(failed)?;
    Ok(StoredSpKey {
        id: ids::new_id(ids::SIGNING_KEY),
        connection_id: connection.id.clone(),
        state: state.to_owned(),
        private_key_pkcs8: STANDARD.encode(pkcs8).into(),
        certificate,
        created_at,
        current_since: None,
        current_until: None,
        decrypts_until: None,
    })
}

fn sp_key(stored: &StoredSpKey) -> Result<SpKey, StoreError> {
    let corrupt = |what: String| StoreError::Corrupt(format!("saml_sp_keys {}: {what}", stored.id));
    Ok(SpKey {
        id: stored.id.clone(),
        private_key_pkcs8: STANDARD
            .decode(stored.private_key_pkcs8.expose())
            .map_err(|e| corrupt(e.to_string()))?,
        certificate_der: certificate_der(&stored.certificate)
            .map_err(|e| corrupt(e.to_string()))?,
    })
}

/// Remembers that `assertion_id` of `connection_id` was used, until
/// `expires_at_ms`; `false` when it already was (a replay), on any node.
pub async fn remember_assertion(
    store: &Store,
    connection_id: &str,
    assertion_id: &str,
    expires_at_ms: i64,
) -> Result<bool, StoreError> {
    store
        .remember_saml_assertion(connection_id, assertion_id, expires_at_ms)
        .await
}

/// The SP metadata document could not be written.
#[derive(Debug, thiserror::Error)]
#[error("writing the SP metadata: {0}")]
pub struct MetadataError(String);

/// The SP metadata document an IdP's admin imports: entity ID, the ACS
/// (HTTP-POST), the SingleLogoutService (`logout_url`, where LogoutResponses
/// come back, by HTTP-Redirect or HTTP-POST), the published keys (current
/// and next) each for signing and for encryption, the encryption
/// algorithms and NameID formats accepted.
pub fn metadata_xml(
    entity_id: &str,
    acs_url: &str,
    logout_url: &str,
    keys: &SpKeys,
    signs_requests: bool,
) -> Result<String, MetadataError> {
    let key_descriptor =
        |key: &SpKey, key_use: &str, methods: Option<Vec<EncryptionMethod>>| KeyDescriptor {
            key_use: Some(key_use.to_owned()),
            key_info: KeyInfo {
                id: None,
                x509_data: Some(X509Data {
                    certificates: vec![STANDARD.encode(&key.certificate_der)],
                }),
            },
            encryption_methods: methods,
        };
    let encryption_methods = ENCRYPTION_METHODS
        .iter()
        .map(|algorithm| EncryptionMethod {
            algorithm: (*algorithm).to_owned(),
        })
        .collect::<Vec<_>>();
    let key_descriptors = keys
        .published
        .iter()
        .map(|key| key_descriptor(key, "signing", None))
        .chain(
            keys.published
                .iter()
                .map(|key| key_descriptor(key, "encryption", Some(encryption_methods.clone()))),
        )
        .collect();
    let descriptor = EntityDescriptor {
        entity_id: Some(entity_id.to_owned()),
        sp_sso_descriptors: Some(vec![SpSsoDescriptor {
            protocol_support_enumeration: Some("urn:oasis:names:tc:SAML:2.0:protocol".to_owned()),
            key_descriptors: Some(key_descriptors),
            name_id_formats: Some(NAME_ID_FORMATS.iter().map(|f| (*f).to_owned()).collect()),
            authn_requests_signed: Some(signs_requests),
            want_assertions_signed: Some(true),
            single_logout_services: Some(
                [HTTP_REDIRECT_BINDING, HTTP_POST_BINDING]
                    .into_iter()
                    .map(|binding| Endpoint {
                        binding: binding.to_owned(),
                        location: logout_url.to_owned(),
                        response_location: None,
                    })
                    .collect(),
            ),
            assertion_consumer_services: vec![IndexedEndpoint {
                binding: HTTP_POST_BINDING.to_owned(),
                location: acs_url.to_owned(),
                response_location: None,
                index: 0,
                is_default: Some(true),
            }],
            ..SpSsoDescriptor::default()
        }]),
        ..EntityDescriptor::default()
    };
    descriptor
        .to_string()
        .map_err(|e| MetadataError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: &str) -> SpKey {
        let pkcs8 = generate_pkcs8(SigningAlg::RS256).unwrap();
        let pem = self_signed_certificate(SigningAlg::RS256, &pkcs8, id, 0).unwrap();
        SpKey {
            id: id.to_owned(),
            certificate_der: certificate_der(&pem).unwrap(),
            private_key_pkcs8: pkcs8,
        }
    }

    #[test]
    fn the_acs_carries_the_connection_name_query_encoded() {
        assert_eq!(
            acs_url("https://id.example.com/login/callback", "acme-saml"),
            "https://id.example.com/login/callback?connection=acme-saml"
        );
        assert_eq!(
            acs_url("https://id.example.com/login/callback", "a&b c"),
            "https://id.example.com/login/callback?connection=a%26b+c"
        );
    }

    #[test]
    fn metadata_values_are_escaped_and_read_back_unchanged() {
        let (current, next) = (key("current"), key("next"));
        let keys = SpKeys {
            signing: current.clone(),
            decrypting: vec![current.clone(), next.clone()],
            published: vec![current, next],
        };
        let entity_id = r#"urn:x:"a"&<b>"#;
        let acs = "https://id.example.com/login/callback?connection=a&b=<c>";
        let logout = "https://id.example.com/logout";
        let xml = metadata_xml(entity_id, acs, logout, &keys, false).unwrap();
        let doc = roxmltree::Document::parse(&xml).unwrap();
        let root = doc.root_element();
        assert_eq!(root.attribute("entityID"), Some(entity_id));
        let acs_node = root
            .descendants()
            .find(|n| n.tag_name().name() == "AssertionConsumerService")
            .unwrap();
        assert_eq!(acs_node.attribute("Location"), Some(acs));
        let slo = root
            .descendants()
            .filter(|n| n.tag_name().name() == "SingleLogoutService")
            .map(|n| {
                (
                    n.attribute("Binding").unwrap(),
                    n.attribute("Location").unwrap(),
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(
            slo,
            [(HTTP_REDIRECT_BINDING, logout), (HTTP_POST_BINDING, logout)]
        );
        let sp = root
            .descendants()
            .find(|n| n.tag_name().name() == "SPSSODescriptor")
            .unwrap();
        assert_eq!(sp.attribute("AuthnRequestsSigned"), Some("false"));
        assert_eq!(
            sp.children()
                .filter(|n| n.tag_name().name() == "KeyDescriptor")
                .count(),
            4
        );
    }
}
