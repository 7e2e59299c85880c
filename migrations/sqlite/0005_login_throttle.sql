-- Brute-force protection, shared by every node: failed password attempts
-- counted per account (connection + email) and per client IP address. The
-- key is a SHA-256 of what it counts, so no email or address is stored in
-- the clear. `window_start` is when the counting window opened (unix ms).

create table login_throttle (
    key text constraint login_throttle_pkey primary key,
    failures bigint not null,
    window_start bigint not null
);
