-- Browser sessions (POST /login). The cookie holds a random session id; only
-- its SHA-256 is stored. A session is bound to the token that opened it:
-- revoking the token ends its sessions at once (the lookup joins api_tokens).
CREATE TABLE browser_sessions (
  id_sha256 text PRIMARY KEY CHECK (id_sha256 ~ '^[0-9a-f]{64}$'),
  token_id text NOT NULL REFERENCES api_tokens (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL DEFAULT now(),
  expires_at timestamptz NOT NULL
);
CREATE INDEX browser_sessions_expires_at ON browser_sessions (expires_at);
