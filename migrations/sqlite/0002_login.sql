-- Browser logins. A login transaction is the server-side half of one
-- /authorize request: the validated request (JSON), the browser it is bound to
-- (SHA-256 of a cookie) and the CSRF token of its forms. Authorization codes
-- are stored hashed and consumed at most once.

create table login_transactions (
    id text constraint login_transactions_pkey primary key,
    browser_hash text not null,
    csrf_token text not null,
    request text not null,
    email text,
    created_at bigint not null,
    expires_at bigint not null
);

create table authorization_codes (
    code_hash text constraint authorization_codes_pkey primary key,
    client_id text not null constraint authorization_codes_client_fkey references clients (client_id) on delete cascade,
    grant_data text not null,
    created_at bigint not null,
    expires_at bigint not null,
    consumed_at bigint
);
