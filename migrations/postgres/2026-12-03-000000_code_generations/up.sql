-- A code's generation changes with every committed change to what a machine of the code is
-- answered: the code's row, its bindings, their licenses, the day's usage rows. A node keeps
-- answers in memory and serves one only after reading that the code's generation is still the
-- one the answer was read with (src/db/views.rs), so a change committed on any node is never
-- answered over. Triggers rather than the application: no write path can forget it.
ALTER TABLE auth_codes ADD COLUMN generation BIGINT NOT NULL DEFAULT 0;

CREATE FUNCTION koolicense_code_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.generation := OLD.generation + 1;
    RETURN NEW;
END
$$;

CREATE TRIGGER auth_codes_generation BEFORE UPDATE ON auth_codes
    FOR EACH ROW EXECUTE FUNCTION koolicense_code_changed();

-- A row of the code's bindings, licenses or usage changed: bump the code, unless this
-- transaction wrote the code's row already (its version is new to every other transaction
-- then, generation included): a first activation pays no extra row version.
CREATE FUNCTION koolicense_code_part_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    changed TEXT;
BEGIN
    IF TG_OP = 'DELETE' THEN
        changed := OLD.code_id;
    ELSE
        changed := NEW.code_id;
    END IF;
    UPDATE auth_codes SET generation = generation + 1
        WHERE id = changed AND NOT (xmin = pg_current_xact_id()::xid);
    IF TG_OP = 'UPDATE' AND OLD.code_id IS DISTINCT FROM NEW.code_id THEN
        UPDATE auth_codes SET generation = generation + 1
            WHERE id = OLD.code_id AND NOT (xmin = pg_current_xact_id()::xid);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER activations_generation AFTER INSERT OR UPDATE OR DELETE ON activations
    FOR EACH ROW EXECUTE FUNCTION koolicense_code_part_changed();
-- An instance's license has no code: its update matches no row.
CREATE TRIGGER licenses_generation AFTER INSERT OR UPDATE OR DELETE ON licenses
    FOR EACH ROW EXECUTE FUNCTION koolicense_code_part_changed();
CREATE TRIGGER code_usage_generation AFTER INSERT OR UPDATE OR DELETE ON code_usage
    FOR EACH ROW EXECUTE FUNCTION koolicense_code_part_changed();
