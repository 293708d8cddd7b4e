-- The whole contract's tables. Types are limited to what Diesel's MultiBackend maps portably:
-- ids and enums as TEXT, times as TIMESTAMP (UTC), flags as BOOLEAN, counters as BIGINT.

-- License 2.0 authorization codes. A row may exist before the software ever activated the code:
-- KooGallery callbacks for unseen codes are recorded (activated = false).
CREATE TABLE auth_codes (
    id TEXT PRIMARY KEY NOT NULL,
    code TEXT NOT NULL UNIQUE,
    code_hint TEXT NOT NULL,
    status TEXT NOT NULL,
    frozen BOOLEAN NOT NULL DEFAULT FALSE,
    activated BOOLEAN NOT NULL DEFAULT FALSE,
    order_id TEXT,
    product_id TEXT,
    seats BIGINT NOT NULL DEFAULT 1,
    expires_at TIMESTAMP,
    last_queried_on TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX auth_codes_order ON auth_codes (order_id);
CREATE INDEX auth_codes_product ON auth_codes (product_id);

-- Online-License instances; (order_id, order_line_id) is the newInstance idempotency key.
CREATE TABLE instances (
    instance_id TEXT PRIMARY KEY NOT NULL,
    order_id TEXT NOT NULL,
    order_line_id TEXT NOT NULL,
    status TEXT NOT NULL,
    product_id TEXT,
    quantity BIGINT,
    charging_mode TEXT,
    expires_at TIMESTAMP,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL,
    UNIQUE (order_id, order_line_id)
);

-- Orders as KooGallery's order query returned them (the quota of an instance comes from here).
CREATE TABLE orders (
    order_id TEXT NOT NULL,
    order_line_id TEXT NOT NULL,
    order_type TEXT NOT NULL,
    product_id TEXT,
    quantity BIGINT,
    charging_mode TEXT,
    expires_at TIMESTAMP,
    raw TEXT NOT NULL,
    fetched_at TIMESTAMP NOT NULL,
    PRIMARY KEY (order_id, order_line_id)
);

-- A code bound to a machine. One live binding per (code, fingerprint).
CREATE TABLE activations (
    id TEXT PRIMARY KEY NOT NULL,
    code_id TEXT NOT NULL REFERENCES auth_codes (id),
    fingerprint TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    hostname TEXT,
    created_at TIMESTAMP NOT NULL,
    deactivated_at TIMESTAMP,
    deactivated_by TEXT
);
CREATE UNIQUE INDEX activations_live ON activations (code_id, fingerprint_sha256)
    WHERE deactivated_at IS NULL;
CREATE INDEX activations_code ON activations (code_id, created_at);

-- Signed licenses. `file` is the current revision; every revision is kept in license_revisions.
CREATE TABLE licenses (
    id TEXT PRIMARY KEY NOT NULL,
    source TEXT NOT NULL,
    code_id TEXT REFERENCES auth_codes (id),
    instance_id TEXT REFERENCES instances (instance_id),
    activation_id TEXT REFERENCES activations (id),
    event_id TEXT,
    fingerprint_sha256 TEXT NOT NULL,
    revision BIGINT NOT NULL,
    file TEXT NOT NULL,
    not_before TIMESTAMP NOT NULL,
    expires_at TIMESTAMP,
    revoked BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX licenses_instance_event ON licenses (instance_id, event_id, fingerprint_sha256)
    WHERE instance_id IS NOT NULL;
CREATE UNIQUE INDEX licenses_activation ON licenses (activation_id)
    WHERE activation_id IS NOT NULL;
CREATE INDEX licenses_code ON licenses (code_id);

CREATE TABLE license_revisions (
    id TEXT PRIMARY KEY NOT NULL,
    license_id TEXT NOT NULL REFERENCES licenses (id),
    revision BIGINT NOT NULL,
    file TEXT NOT NULL,
    expires_at TIMESTAMP,
    reason TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (license_id, revision)
);

-- History of codes, instances and licenses. `dedupe_key` makes a marketplace callback apply once.
CREATE TABLE events (
    id TEXT PRIMARY KEY NOT NULL,
    subject_type TEXT NOT NULL,
    subject_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX events_subject ON events (subject_type, subject_id, created_at);

-- Journal of every marketplace call, both directions. Never holds secrets or full codes.
CREATE TABLE marketplace_calls (
    id TEXT PRIMARY KEY NOT NULL,
    direction TEXT NOT NULL,
    activity TEXT NOT NULL,
    order_id TEXT,
    instance_id TEXT,
    code_hint TEXT,
    event_id TEXT,
    result_code TEXT NOT NULL,
    http_status BIGINT,
    latency_ms BIGINT NOT NULL,
    test_flag BOOLEAN NOT NULL,
    detail TEXT,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX marketplace_calls_time ON marketplace_calls (created_at);
CREATE INDEX marketplace_calls_direction ON marketplace_calls (direction, activity, created_at);

-- Scheme-B nonces seen inside the freshness window; the primary key rejects a replay on any node.
CREATE TABLE nonces (
    nonce TEXT PRIMARY KEY NOT NULL,
    seen_at TIMESTAMP NOT NULL
);
CREATE INDEX nonces_seen ON nonces (seen_at);

-- Durable background work (outbox): uploads, order queries, usage reports.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL,
    dedupe_key TEXT UNIQUE,
    payload TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL,
    run_at TIMESTAMP NOT NULL,
    locked_by TEXT,
    locked_until TIMESTAMP,
    last_error TEXT,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX jobs_due ON jobs (status, run_at);
CREATE INDEX jobs_kind ON jobs (kind, status);

-- Distinct clients seen per code per UTC day, for KooGallery's usage report.
CREATE TABLE code_usage (
    code_id TEXT NOT NULL REFERENCES auth_codes (id),
    day TEXT NOT NULL,
    client_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    PRIMARY KEY (code_id, day, client_id)
);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY NOT NULL,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at TIMESTAMP NOT NULL,
    last_used_at TIMESTAMP,
    revoked_at TIMESTAMP
);

CREATE TABLE audit_log (
    id TEXT PRIMARY KEY NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX audit_log_time ON audit_log (created_at);
CREATE INDEX audit_log_actor ON audit_log (actor, created_at);
