-- Nothing to undo: older versions read the normalised spellings as they read the originals.
SELECT 1;
