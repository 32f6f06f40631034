-- The end-to-end key directory and the device-to-device envelope queue. The server stores
-- public keys and opaque ciphertext only; clients verify every signature themselves.

-- The user key (Ed25519 public) that signs the user's device certificates. Fixed by the first
-- device that publishes its keys; every later certificate must be signed by it.
CREATE TABLE user_keys (
    user_id    UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    public_key BYTEA NOT NULL CHECK (length(public_key) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- A device's published identity (its certificate, signed by the user key) and its current
-- signed prekey. The certificate never changes once published.
CREATE TABLE device_keys (
    device_id      UUID PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
    user_id        UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    certificate    BYTEA NOT NULL CHECK (length(certificate) = 193),
    spk_id         BIGINT NOT NULL CHECK (spk_id >= 0 AND spk_id <= 4294967295),
    spk_public     BYTEA NOT NULL CHECK (length(spk_public) = 32),
    spk_signature  BYTEA NOT NULL CHECK (length(spk_signature) = 64),
    spk_updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX device_keys_user ON device_keys (user_id);

-- One-time prekeys: each is handed out at most once (deleted as it is claimed).
CREATE TABLE one_time_prekeys (
    device_id  UUID NOT NULL REFERENCES device_keys (device_id) ON DELETE CASCADE,
    key_id     BIGINT NOT NULL CHECK (key_id >= 0 AND key_id <= 4294967295),
    public_key BYTEA NOT NULL CHECK (length(public_key) = 32),
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, key_id)
);

-- Opaque device-to-device envelopes (pairwise Double Ratchet messages), queued for the
-- recipient device until it acknowledges them.
CREATE TABLE envelopes (
    id                  UUID PRIMARY KEY,
    -- delivery order
    seq                 BIGSERIAL NOT NULL,
    recipient_device_id UUID NOT NULL REFERENCES device_keys (device_id) ON DELETE CASCADE,
    sender_user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    sender_device_id    UUID NOT NULL,
    -- the channel the envelope concerns (a sender-key distribution), if any
    channel_id          UUID REFERENCES channels (id) ON DELETE CASCADE,
    ciphertext          BYTEA NOT NULL CHECK (length(ciphertext) BETWEEN 1 AND 16384),
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX envelopes_recipient ON envelopes (recipient_device_id, seq);
