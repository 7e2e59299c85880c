-- Upstream identities: (connection, upstream subject) → one user, so that an
-- upstream that sends no email still logs its people in; a user holds none
-- (a database user), one or several (linked accounts). `profile_data`: the
-- profile the upstream sent at the identity's last login, shown by the
-- Management API for identities other than the user's own (Auth0's
-- `profileData`).
--
-- A user may have no email (an upstream that sends none): `users.email`
-- becomes nullable. An email is unique per connection only among the users
-- who log in with it and a password: two people of one upstream may claim
-- one address (and one who claims another's first must not lock them out). SQLite cannot drop a `not null`, so the table is rebuilt
-- as SQLite documents it (a new table, the rows copied, the old one dropped,
-- the new one renamed). The store runs migrations with foreign keys off, so
-- dropping `users` cascades nowhere, and the tables referencing `users` find
-- the new one under the name.

create table users_0015 (
    user_id text constraint users_pkey primary key,
    connection_id text not null constraint users_connection_fkey references connections (id) on delete cascade,
    email text,
    email_verified integer not null default 0,
    name text,
    given_name text,
    family_name text,
    nickname text,
    picture text,
    password_hash text,
    blocked integer not null default 0,
    app_metadata text not null default '{}',
    user_metadata text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null,
    inert_settings text not null default '{}'
);
insert into users_0015 (user_id, connection_id, email, email_verified, name, given_name, family_name,
        nickname, picture, password_hash, blocked, app_metadata, user_metadata, created_at, updated_at,
        inert_settings)
    select user_id, connection_id, email, email_verified, name, given_name, family_name,
        nickname, picture, password_hash, blocked, app_metadata, user_metadata, created_at, updated_at,
        inert_settings
    from users;
drop table users;
alter table users_0015 rename to users;
create index users_email_idx on users (email);
create unique index users_connection_email_key on users (connection_id, email)
    where password_hash is not null;

create table user_identities (
    connection_id text not null constraint user_identities_connection_fkey references connections (id) on delete cascade,
    subject text not null,
    user_id text not null constraint user_identities_user_fkey references users (user_id) on delete cascade,
    profile_data text not null default '{}',
    created_at bigint not null,
    updated_at bigint not null,
    constraint user_identities_pkey primary key (connection_id, subject)
);
create index user_identities_user_idx on user_identities (user_id);

-- `account_linking: prove_existing`: an upstream identity waiting, within
-- one login, for its person to log in to the existing account it will join.
create table pending_links (
    transaction_id text constraint pending_links_pkey primary key
        constraint pending_links_transaction_fkey references login_transactions (id) on delete cascade,
    connection_id text not null constraint pending_links_connection_fkey references connections (id) on delete cascade,
    subject text not null,
    user_id text not null constraint pending_links_user_fkey references users (user_id) on delete cascade,
    profile_data text not null default '{}',
    created_at bigint not null
);
