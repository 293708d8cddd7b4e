-- Marketplace calls refused before authentication (bad or missing signature, stale timestamp,
-- replayed nonce, ...), counted per minute, node, interface, activity and reason instead of
-- journalled one by one: anyone can send them, so each must not cost a row. Every key column
-- holds a value from a closed set, never what the caller sent.
CREATE TABLE marketplace_rejections (
    id TEXT PRIMARY KEY NOT NULL,
    minute TIMESTAMP NOT NULL,
    node_id TEXT NOT NULL,
    interface TEXT NOT NULL,
    activity TEXT NOT NULL,
    reason TEXT NOT NULL,
    calls BIGINT NOT NULL,
    first_seen_at TIMESTAMP NOT NULL,
    last_seen_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX marketplace_rejections_key
    ON marketplace_rejections (minute, node_id, interface, activity, reason);
