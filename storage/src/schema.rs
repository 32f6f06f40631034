// @generated automatically by Diesel CLI.

diesel::table! {
    audit_events (id) {
        id -> Uuid,
        user_id -> Nullable<Uuid>,
        #[max_length = 48]
        action -> Varchar,
        #[max_length = 64]
        ip -> Nullable<Varchar>,
        #[max_length = 256]
        user_agent -> Nullable<Varchar>,
        created_at -> Timestamptz,
        subject_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    backup_codes (user_id, code_hash) {
        user_id -> Uuid,
        code_hash -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    devices (id) {
        id -> Uuid,
        user_id -> Uuid,
        #[max_length = 64]
        name -> Varchar,
        secret_hash -> Bytea,
        created_at -> Timestamptz,
        last_seen_at -> Timestamptz,
    }
}

diesel::table! {
    instance_settings (key) {
        #[max_length = 64]
        key -> Varchar,
        value -> Text,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    invites (id) {
        id -> Uuid,
        #[max_length = 32]
        code -> Varchar,
        created_by -> Nullable<Uuid>,
        max_uses -> Nullable<Int4>,
        uses -> Int4,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    refresh_tokens (token_hash) {
        token_hash -> Bytea,
        session_id -> Uuid,
        created_at -> Timestamptz,
        used_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    sessions (id) {
        id -> Uuid,
        user_id -> Uuid,
        device_id -> Uuid,
        #[max_length = 64]
        ip -> Nullable<Varchar>,
        #[max_length = 256]
        user_agent -> Nullable<Varchar>,
        created_at -> Timestamptz,
        last_used_at -> Timestamptz,
        expires_at -> Timestamptz,
        revoked_at -> Nullable<Timestamptz>,
        #[max_length = 32]
        revoked_reason -> Nullable<Varchar>,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        #[max_length = 32]
        username -> Varchar,
        #[max_length = 64]
        display_name -> Varchar,
        password_hash -> Text,
        #[max_length = 16]
        role -> Varchar,
        totp_secret -> Nullable<Bytea>,
        totp_enabled -> Bool,
        totp_last_step -> Int8,
        recovery_code_hash -> Nullable<Bytea>,
        suspended_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::joinable!(audit_events -> users (user_id));
diesel::joinable!(backup_codes -> users (user_id));
diesel::joinable!(devices -> users (user_id));
diesel::joinable!(invites -> users (created_by));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> devices (device_id));
diesel::joinable!(sessions -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    backup_codes,
    devices,
    instance_settings,
    invites,
    refresh_tokens,
    sessions,
    users,
);
