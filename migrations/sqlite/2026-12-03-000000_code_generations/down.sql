ALTER TABLE auth_codes DROP COLUMN generation;
