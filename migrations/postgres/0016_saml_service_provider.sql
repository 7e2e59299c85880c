-- SAML connections, the service provider's side. `saml_sp_keys`: each
-- connection's SP key pairs, which sign its AuthnRequests and decrypt the
-- assertions its IdP encrypts. A `next` key is published in the SP metadata
-- beside the `current` one before it signs anything; a rotation makes it
-- current, and the key it replaces becomes `previous`: it decrypts until
-- `decrypts_until` (an IdP whose copy of the metadata is old still encrypts
-- to it), then it is deleted. At most one current and one next key per
-- connection (the partial unique index), so that nodes making the first keys
-- at once cannot both win. `private_key`: PKCS#8 DER, base64, sealed under
-- the key-encryption key; `certificate`: the self-signed X.509 certificate
-- of its public key, PEM.
create table saml_sp_keys (
    id text constraint saml_sp_keys_pkey primary key,
    connection_id text not null constraint saml_sp_keys_connection_fkey references connections (id) on delete cascade,
    state text not null constraint saml_sp_keys_state_check check (state in ('next', 'current', 'previous')),
    private_key text not null,
    certificate text not null,
    created_at bigint not null,
    current_since bigint,
    current_until bigint,
    decrypts_until bigint
);
create unique index saml_sp_keys_connection_state_key on saml_sp_keys (connection_id, state)
    where state in ('current', 'next');

-- The IDs of the assertions a connection accepted, until they expire: a
-- second use of one is a replay, refused on whichever node it reaches.
create table saml_assertion_ids (
    connection_id text not null constraint saml_assertion_ids_connection_fkey references connections (id) on delete cascade,
    assertion_id text not null,
    expires_at bigint not null,
    constraint saml_assertion_ids_pkey primary key (connection_id, assertion_id)
);
create index saml_assertion_ids_expires_idx on saml_assertion_ids (expires_at);
