-- The column PostgreSQL's triggers keep (see migrations/postgres). One SQLite file has one
-- server, which reads it in place and keeps no answers in memory: the column stays 0.
ALTER TABLE auth_codes ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;
