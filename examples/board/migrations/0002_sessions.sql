-- Logins, so that a restart logs nobody out and every instance behind one address knows
-- every session. `id` is the 256-bit random session id that the private cookie carries;
-- `expires` is in seconds since the Unix epoch.
CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    color TEXT NOT NULL,
    expires BIGINT NOT NULL
);

CREATE INDEX sessions_expires ON sessions (expires);
