-- Federation: one record per request sent to an upstream identity provider,
-- the server-side half of its round trip. It is found by the SHA-256 of the
-- `state` sent upstream (its single-use key), expires within minutes, and
-- goes with the login transaction it resumes. `response` holds what the
-- callback brought back (query or form post) until the browser, back on
-- this site with the transaction's cookie, resumes the login: the record is
-- then taken (deleted) once.

create table upstream_requests (
    state_hash text constraint upstream_requests_pkey primary key,
    transaction_id text not null constraint upstream_requests_transaction_fkey references login_transactions (id) on delete cascade,
    connection_id text not null constraint upstream_requests_connection_fkey references connections (id) on delete cascade,
    nonce text not null,
    pkce_verifier text,
    response text,
    created_at bigint not null,
    expires_at bigint not null
);

create index upstream_requests_transaction_idx on upstream_requests (transaction_id);
