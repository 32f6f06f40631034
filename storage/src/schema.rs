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
    channel_members (channel_id, user_id) {
        channel_id -> Uuid,
        user_id -> Uuid,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    channels (id) {
        id -> Uuid,
        community_id -> Nullable<Uuid>,
        #[max_length = 16]
        kind -> Varchar,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 1000]
        topic -> Varchar,
        e2e -> Bool,
        slow_mode_secs -> Int4,
        archived -> Bool,
        position -> Int4,
        last_seq -> Int8,
        dm_key -> Nullable<Text>,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
        group_id -> Nullable<Uuid>,
        #[max_length = 16]
        view_role -> Varchar,
        #[max_length = 16]
        post_role -> Varchar,
        last_activity_at -> Timestamptz,
        history_for_new_members -> Bool,
    }
}

diesel::table! {
    communities (id) {
        id -> Uuid,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 1000]
        description -> Varchar,
        #[max_length = 16]
        visibility -> Varchar,
        owner_id -> Uuid,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        #[max_length = 200]
        icon_ref -> Nullable<Varchar>,
        #[max_length = 200]
        banner_ref -> Nullable<Varchar>,
        #[max_length = 2000]
        welcome_message -> Varchar,
        discoverable -> Bool,
    }
}

diesel::table! {
    community_bans (community_id, user_id) {
        community_id -> Uuid,
        user_id -> Uuid,
        banned_by -> Nullable<Uuid>,
        #[max_length = 500]
        reason -> Varchar,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    community_emoji (id) {
        id -> Uuid,
        community_id -> Uuid,
        #[max_length = 32]
        name -> Varchar,
        #[max_length = 64]
        image_ref -> Varchar,
        created_by -> Nullable<Uuid>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    community_invites (id) {
        id -> Uuid,
        community_id -> Uuid,
        code_hash -> Bytea,
        created_by -> Nullable<Uuid>,
        max_uses -> Nullable<Int4>,
        uses -> Int4,
        expires_at -> Nullable<Timestamptz>,
        revoked_at -> Nullable<Timestamptz>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    community_members (community_id, user_id) {
        community_id -> Uuid,
        user_id -> Uuid,
        #[max_length = 16]
        role -> Varchar,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    device_keys (device_id) {
        device_id -> Uuid,
        user_id -> Uuid,
        certificate -> Bytea,
        spk_id -> Int8,
        spk_public -> Bytea,
        spk_signature -> Bytea,
        spk_updated_at -> Timestamptz,
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
        removed_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    envelopes (id) {
        id -> Uuid,
        seq -> Int8,
        recipient_device_id -> Uuid,
        sender_user_id -> Uuid,
        sender_device_id -> Uuid,
        channel_id -> Nullable<Uuid>,
        ciphertext -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    files (id) {
        id -> Uuid,
        channel_id -> Uuid,
        uploader_id -> Uuid,
        sha256 -> Bytea,
        size -> Int8,
        created_at -> Timestamptz,
        message_id -> Nullable<Uuid>,
        #[max_length = 255]
        name -> Nullable<Varchar>,
        #[max_length = 100]
        content_type -> Nullable<Varchar>,
        width -> Nullable<Int4>,
        height -> Nullable<Int4>,
        thumb_sha256 -> Nullable<Bytea>,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        group_id -> Uuid,
        user_id -> Uuid,
        joined_at -> Timestamptz,
    }
}

diesel::table! {
    groups (id) {
        id -> Uuid,
        community_id -> Uuid,
        #[max_length = 100]
        name -> Varchar,
        #[max_length = 16]
        kind -> Varchar,
        assigned_to -> Nullable<Uuid>,
        position -> Int4,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    images (sha256, kind) {
        sha256 -> Bytea,
        #[max_length = 8]
        kind -> Varchar,
        uploader_id -> Nullable<Uuid>,
        #[max_length = 16]
        content_type -> Varchar,
        width -> Int4,
        height -> Int4,
        size -> Int8,
        touched_at -> Timestamptz,
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
    key_backup_chunks (user_id, seq) {
        user_id -> Uuid,
        seq -> Int8,
        chunk -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    key_backups (user_id) {
        user_id -> Uuid,
        chunk_count -> Int8,
        chunk_bytes -> Int8,
        head -> Nullable<Bytea>,
        head_seq -> Int8,
        head_count -> Int8,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    link_requests (device_id) {
        device_id -> Uuid,
        user_id -> Uuid,
        request -> Bytea,
        response -> Nullable<Bytea>,
        responder_device_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        expires_at -> Timestamptz,
    }
}

diesel::table! {
    message_edits (message_id, edited_at) {
        message_id -> Uuid,
        edited_at -> Timestamptz,
        body_text -> Nullable<Text>,
        body_cipher -> Nullable<Bytea>,
    }
}

diesel::table! {
    messages (id) {
        id -> Uuid,
        channel_id -> Uuid,
        seq -> Int8,
        updated_seq -> Int8,
        sender_id -> Nullable<Uuid>,
        sender_device_id -> Nullable<Uuid>,
        #[max_length = 64]
        nonce -> Varchar,
        body_text -> Nullable<Text>,
        body_cipher -> Nullable<Bytea>,
        reply_to -> Nullable<Uuid>,
        created_at -> Timestamptz,
        edited_at -> Nullable<Timestamptz>,
        deleted_at -> Nullable<Timestamptz>,
    }
}

diesel::table! {
    one_time_prekeys (device_id, key_id) {
        device_id -> Uuid,
        key_id -> Int8,
        public_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    reactions (message_id, user_id, emoji) {
        message_id -> Uuid,
        user_id -> Uuid,
        #[max_length = 100]
        emoji -> Varchar,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    read_markers (user_id, channel_id) {
        user_id -> Uuid,
        channel_id -> Uuid,
        last_read_seq -> Int8,
        updated_at -> Timestamptz,
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
    secret_storage (user_id) {
        user_id -> Uuid,
        version -> Int8,
        storage -> Bytea,
        updated_at -> Timestamptz,
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
    user_blocks (blocker_id, blocked_id) {
        blocker_id -> Uuid,
        blocked_id -> Uuid,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_keys (user_id) {
        user_id -> Uuid,
        public_key -> Bytea,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    user_profiles (user_id) {
        user_id -> Uuid,
        #[max_length = 1000]
        bio -> Varchar,
        #[max_length = 40]
        pronouns -> Varchar,
        #[max_length = 128]
        custom_status -> Varchar,
        #[max_length = 200]
        avatar_ref -> Nullable<Varchar>,
        #[max_length = 200]
        banner_ref -> Nullable<Varchar>,
        updated_at -> Timestamptz,
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
diesel::joinable!(key_backup_chunks -> key_backups (user_id));
diesel::joinable!(key_backups -> users (user_id));
diesel::joinable!(link_requests -> devices (device_id));
diesel::joinable!(link_requests -> users (user_id));
diesel::joinable!(secret_storage -> users (user_id));
diesel::joinable!(backup_codes -> users (user_id));
diesel::joinable!(channel_members -> channels (channel_id));
diesel::joinable!(channel_members -> users (user_id));
diesel::joinable!(channels -> communities (community_id));
diesel::joinable!(channels -> groups (group_id));
diesel::joinable!(channels -> users (created_by));
diesel::joinable!(communities -> users (owner_id));
diesel::joinable!(community_bans -> communities (community_id));
diesel::joinable!(community_emoji -> communities (community_id));
diesel::joinable!(community_emoji -> users (created_by));
diesel::joinable!(community_invites -> communities (community_id));
diesel::joinable!(community_invites -> users (created_by));
diesel::joinable!(community_members -> communities (community_id));
diesel::joinable!(community_members -> users (user_id));
diesel::joinable!(device_keys -> devices (device_id));
diesel::joinable!(device_keys -> users (user_id));
diesel::joinable!(devices -> users (user_id));
diesel::joinable!(envelopes -> channels (channel_id));
diesel::joinable!(envelopes -> device_keys (recipient_device_id));
diesel::joinable!(envelopes -> users (sender_user_id));
diesel::joinable!(files -> channels (channel_id));
diesel::joinable!(files -> users (uploader_id));
diesel::joinable!(files -> messages (message_id));
diesel::joinable!(group_members -> groups (group_id));
diesel::joinable!(group_members -> users (user_id));
diesel::joinable!(groups -> communities (community_id));
diesel::joinable!(groups -> users (assigned_to));
diesel::joinable!(images -> users (uploader_id));
diesel::joinable!(invites -> users (created_by));
diesel::joinable!(message_edits -> messages (message_id));
diesel::joinable!(messages -> channels (channel_id));
diesel::joinable!(messages -> users (sender_id));
diesel::joinable!(one_time_prekeys -> device_keys (device_id));
diesel::joinable!(reactions -> messages (message_id));
diesel::joinable!(reactions -> users (user_id));
diesel::joinable!(read_markers -> channels (channel_id));
diesel::joinable!(read_markers -> users (user_id));
diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::joinable!(sessions -> devices (device_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(user_keys -> users (user_id));
diesel::joinable!(user_profiles -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    audit_events,
    backup_codes,
    channel_members,
    channels,
    communities,
    community_bans,
    community_emoji,
    community_invites,
    community_members,
    device_keys,
    devices,
    envelopes,
    files,
    group_members,
    groups,
    images,
    instance_settings,
    invites,
    key_backup_chunks,
    key_backups,
    link_requests,
    message_edits,
    messages,
    one_time_prekeys,
    reactions,
    read_markers,
    refresh_tokens,
    secret_storage,
    sessions,
    user_blocks,
    user_keys,
    user_profiles,
    users,
);
