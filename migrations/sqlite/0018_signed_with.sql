-- What signed the zone when its signatures were last made right as a whole (a digest of the
-- signing policy and of what each key does): at start, a zone whose signed serial is the
-- served one and whose signer has this digest is already right, and is not checked again
-- record by record.
ALTER TABLE dnssec_zones ADD COLUMN signed_with TEXT;
