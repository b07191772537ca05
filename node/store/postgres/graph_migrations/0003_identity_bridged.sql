-- The verification level "bridged" (issue #18; specs/PROTOCOL.md "Verification levels"), as SQLite's 0013: the
-- CHECK of identity.verification admits it; every row is kept as it is.
ALTER TABLE identity DROP CONSTRAINT identity_verification_check;
ALTER TABLE identity ADD CONSTRAINT identity_verification_check
    CHECK (verification IN ('signed', 'two-way', 'email-match', 'bridged', 'claimed', 'guessed'));
