-- Signing keys stay published until every token they signed can have
-- expired, or until an administrator revokes them (Auth0's key objects carry
-- the dates). `current_since`/`current_until`: when the key signed;
-- `verifies_until`: when it leaves the JWKS (null while it signs or waits as
-- `next`); `revoked_at`: when an administrator revoked it; `certificate`: a
-- self-signed X.509 certificate of its public key (PEM), as Auth0 publishes.
alter table signing_keys add column current_since bigint;
alter table signing_keys add column current_until bigint;
alter table signing_keys add column verifies_until bigint;
alter table signing_keys add column revoked_at bigint;
alter table signing_keys add column certificate text;

-- Rows from before: a current key has signed since it last changed state; a
-- previous key stopped then, and the longest token lifetime anything could
-- configure (30 days) bounds what it signed; retired keys verify nothing.
update signing_keys set current_since = updated_at where state = 'current';
update signing_keys set current_until = updated_at, verifies_until = updated_at + 2592000000
    where state = 'previous';
update signing_keys set verifies_until = updated_at where state = 'retired';
