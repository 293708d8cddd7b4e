// The Diesel schema, written to match migrations/sqlite (and, column for column, migrations/postgres).

diesel::table! {
    activations (id) {
        id -> Text,
        code_id -> Text,
        fingerprint -> Text,
        fingerprint_sha256 -> Text,
        hostname -> Nullable<Text>,
        created_at -> Timestamp,
        deactivated_at -> Nullable<Timestamp>,
        deactivated_by -> Nullable<Text>,
    }
}

diesel::table! {
    admin_tokens (id) {
        id -> Text,
        name -> Text,
        role -> Text,
        token_sha256 -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        actor -> Text,
        action -> Text,
        target_type -> Text,
        target_id -> Text,
        reason -> Text,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    auth_codes (id) {
        id -> Text,
        code -> Text,
        code_hint -> Text,
        status -> Text,
        frozen -> Bool,
        activated -> Bool,
        order_id -> Nullable<Text>,
        product_id -> Nullable<Text>,
        seats -> BigInt,
        expires_at -> Nullable<Timestamp>,
        last_queried_on -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        generation -> BigInt,
    }
}

diesel::table! {
    code_usage (code_id, day, client_id) {
        code_id -> Text,
        day -> Text,
        client_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    events (id) {
        id -> Text,
        subject_type -> Text,
        subject_id -> Text,
        kind -> Text,
        dedupe_key -> Nullable<Text>,
        detail -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    instances (instance_id) {
        instance_id -> Text,
        order_id -> Text,
        order_line_id -> Text,
        status -> Text,
        product_id -> Nullable<Text>,
        quantity -> Nullable<BigInt>,
        charging_mode -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    jobs (id) {
        id -> Text,
        kind -> Text,
        dedupe_key -> Nullable<Text>,
        payload -> Text,
        status -> Text,
        attempts -> BigInt,
        max_attempts -> BigInt,
        run_at -> Timestamp,
        locked_by -> Nullable<Text>,
        locked_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    license_revisions (id) {
        id -> Text,
        license_id -> Text,
        revision -> BigInt,
        file -> Text,
        expires_at -> Nullable<Timestamp>,
        reason -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    licenses (id) {
        id -> Text,
        source -> Text,
        code_id -> Nullable<Text>,
        instance_id -> Nullable<Text>,
        activation_id -> Nullable<Text>,
        event_id -> Nullable<Text>,
        fingerprint_sha256 -> Text,
        revision -> BigInt,
        file -> Text,
        not_before -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    marketplace_calls (id) {
        id -> Text,
        direction -> Text,
        activity -> Text,
        order_id -> Nullable<Text>,
        instance_id -> Nullable<Text>,
        code_hint -> Nullable<Text>,
        event_id -> Nullable<Text>,
        result_code -> Text,
        http_status -> Nullable<BigInt>,
        latency_ms -> BigInt,
        test_flag -> Bool,
        detail -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    marketplace_rejections (id) {
        id -> Text,
        minute -> Timestamp,
        node_id -> Text,
        interface -> Text,
        activity -> Text,
        reason -> Text,
        calls -> BigInt,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
    }
}

diesel::table! {
    nonces (nonce) {
        nonce -> Text,
        seen_at -> Timestamp,
    }
}

diesel::table! {
    orders (order_id, order_line_id) {
        order_id -> Text,
        order_line_id -> Text,
        order_type -> Text,
        product_id -> Nullable<Text>,
        quantity -> Nullable<BigInt>,
        charging_mode -> Nullable<Text>,
        expires_at -> Nullable<Timestamp>,
        raw -> Text,
        fetched_at -> Timestamp,
    }
}

diesel::joinable!(activations -> auth_codes (code_id));
diesel::joinable!(code_usage -> auth_codes (code_id));
diesel::joinable!(license_revisions -> licenses (license_id));
diesel::joinable!(licenses -> activations (activation_id));
diesel::joinable!(licenses -> auth_codes (code_id));
diesel::joinable!(licenses -> instances (instance_id));

diesel::allow_tables_to_appear_in_same_query!(
    activations,
    admin_tokens,
    audit_log,
    auth_codes,
    code_usage,
    events,
    instances,
    jobs,
    license_revisions,
    licenses,
    marketplace_calls,
    marketplace_rejections,
    nonces,
    orders,
);
