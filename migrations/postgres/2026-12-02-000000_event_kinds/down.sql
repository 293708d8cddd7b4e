UPDATE events SET kind = 'refreshLicense', detail = '{}'
    WHERE kind = 'refreshed' AND detail = '{"via":"refreshLicense"}';
UPDATE events SET kind = 'expireLicense', detail = '{}'
    WHERE kind = 'frozen' AND detail = '{"via":"expireLicense"}';
UPDATE events SET kind = 'releaseLicense', detail = '{}'
    WHERE kind = 'released' AND detail = '{"via":"releaseLicense"}';
