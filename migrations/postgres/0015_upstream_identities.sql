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
-- one address (and one who claims another's first must not lock them out).

alter table users alter column email drop not null;
alter table users drop constraint users_connection_email_key;
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
