-- Accounts, devices, login sessions with rotating refresh tokens, 2FA, invites, settings, audit.

CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    -- lower-case a-z 0-9 _ . - ; compared exactly, so unique means unique regardless of case
    username           VARCHAR(32) NOT NULL UNIQUE CHECK (username = lower(username)),
    display_name       VARCHAR(64) NOT NULL,
    password_hash      TEXT NOT NULL,
    role               VARCHAR(16) NOT NULL DEFAULT 'member' CHECK (role IN ('owner', 'admin', 'member')),
    -- TOTP secret sealed with the server's secrets key (nonce || ciphertext); NULL when unset
    totp_secret        BYTEA,
    totp_enabled       BOOLEAN NOT NULL DEFAULT FALSE,
    -- the last accepted TOTP time step: a code is accepted once
    totp_last_step     BIGINT NOT NULL DEFAULT 0,
    -- SHA-256 of the recovery code (80 random bits)
    recovery_code_hash BYTEA,
    suspended_at       TIMESTAMPTZ,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at         TIMESTAMPTZ NOT NULL DEFAULT now()
);
-- at most one instance owner
CREATE UNIQUE INDEX users_single_owner ON users ((role)) WHERE role = 'owner';

CREATE TABLE backup_codes (
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- SHA-256 of the normalised code
    code_hash  BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE devices (
    id           UUID PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         VARCHAR(64) NOT NULL,
    -- SHA-256 of the device secret the client keeps for later logins
    secret_hash  BYTEA NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX devices_user ON devices (user_id);

CREATE TABLE sessions (
    id             UUID PRIMARY KEY,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id      UUID NOT NULL REFERENCES devices (id) ON DELETE CASCADE,
    ip             VARCHAR(64),
    user_agent     VARCHAR(256),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at     TIMESTAMPTZ NOT NULL,
    revoked_at     TIMESTAMPTZ,
    revoked_reason VARCHAR(32)
);
CREATE INDEX sessions_user_active ON sessions (user_id) WHERE revoked_at IS NULL;
CREATE INDEX sessions_revoked_at ON sessions (revoked_at) WHERE revoked_at IS NOT NULL;

-- Every refresh token ever issued for a session (its family). A token is used once; presenting a
-- used token again revokes the whole session.
CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    session_id UUID NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    used_at    TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);

CREATE TABLE invites (
    id         UUID PRIMARY KEY,
    code       VARCHAR(32) NOT NULL UNIQUE,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    max_uses   INTEGER CHECK (max_uses IS NULL OR max_uses > 0),
    uses       INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE instance_settings (
    key        VARCHAR(64) PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE audit_events (
    id         UUID PRIMARY KEY,
    user_id    UUID REFERENCES users (id) ON DELETE SET NULL,
    action     VARCHAR(48) NOT NULL,
    ip         VARCHAR(64),
    user_agent VARCHAR(256),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX audit_events_user ON audit_events (user_id, created_at DESC);
CREATE INDEX audit_events_created ON audit_events (created_at DESC);
