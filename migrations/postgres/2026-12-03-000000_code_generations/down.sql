DROP TRIGGER code_usage_generation ON code_usage;
DROP TRIGGER licenses_generation ON licenses;
DROP TRIGGER activations_generation ON activations;
DROP TRIGGER auth_codes_generation ON auth_codes;
DROP FUNCTION koolicense_code_part_changed();
DROP FUNCTION koolicense_code_changed();
ALTER TABLE auth_codes DROP COLUMN generation;
