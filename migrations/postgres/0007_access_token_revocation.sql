-- Access tokens are self-contained JWTs that expire on their own. The few
-- that must stop working earlier (revoked at /oauth/revoke, issued by a
-- replayed code, or by a refresh-token family that was revoked) are listed
-- here by `jti` until the longest access-token lifetime has passed; the
-- server's own endpoints (userinfo, introspection, the Management API)
-- refuse them.
create table revoked_access_tokens (
    jti text constraint revoked_access_tokens_pkey primary key,
    expires_at bigint not null
);

-- The access token each code exchange and each refresh issued, so that
-- revoking what they belong to revokes it too.
alter table authorization_codes add column access_token_id text;
alter table refresh_tokens add column access_token_id text;

-- When a used code was presented again. A refresh-token family is started
-- for a code only while this is null (in the transaction that links the
-- family to the code), so a replay racing the first exchange cannot miss
-- the family that exchange is creating.
alter table authorization_codes add column replayed_at bigint;
