-- OpenID Connect Back-Channel Logout 1.0: the URL a client wants logout
-- tokens at, and the clients each session was used for (only clients with
-- such a URL are recorded: nobody else is told of a logout).
alter table clients add column backchannel_logout_url text;

create table session_clients (
    session_id text not null constraint session_clients_session_fkey references sessions (id) on delete cascade,
    client_id text not null constraint session_clients_client_fkey references clients (client_id) on delete cascade,
    created_at bigint not null,
    constraint session_clients_pkey primary key (session_id, client_id)
);

create index session_clients_client_idx on session_clients (client_id);
