-- A code's status is one of ALIVE, EXPIRED, RELEASED (`CodeStatus`, read strictly). Older
-- versions stored KooGallery's word as sent; read it as they did: EXPIRED or RELEASED in any
-- case and spacing, anything else alive.
UPDATE auth_codes
    SET status = CASE
        WHEN UPPER(TRIM(status)) IN ('EXPIRED', 'RELEASED') THEN UPPER(TRIM(status))
        ELSE 'ALIVE'
    END
    WHERE status NOT IN ('ALIVE', 'EXPIRED', 'RELEASED');
