-- Legacy (authToken) instance changes were recorded under the legacy activity's name; they
-- now use the same kinds as the Scheme B callbacks, the activity kept in the detail. Every
-- kind in `events` is then one of the spellings of `EventKind`, which reads them strictly.
UPDATE events SET kind = 'refreshed', detail = '{"via":"refreshLicense"}'
    WHERE kind = 'refreshLicense';
UPDATE events SET kind = 'frozen', detail = '{"via":"expireLicense"}'
    WHERE kind = 'expireLicense';
UPDATE events SET kind = 'released', detail = '{"via":"releaseLicense"}'
    WHERE kind = 'releaseLicense';
