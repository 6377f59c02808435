-- packsync 0003: the stat stamp (names, inodes, sizes, mtimes, ctimes) of a
-- pack's files, taken by the scan its checksum came from. A sweep skips a
-- pack whose stamp is unchanged without reading a byte; a reconcile reads and
-- hashes every file whatever the stamp (content hashes stay the truth).
ALTER TABLE managed_pack ADD COLUMN stamp text;
