-- Revoked tokens. A row names one token (jti) or one subject whose tokens issued before
-- issued_before are refused. Rows are only added: every server holds them all in memory,
-- checks each call against them, and reloads them when another server announces a new one.
CREATE TABLE token_revocations (
    seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti text,
    subject text,
    issued_before timestamptz,
    -- The subject of the admin who revoked, when and why.
    revoked_by text NOT NULL,
    revoked_at timestamptz NOT NULL,
    reason text NOT NULL,
    CHECK ((jti IS NOT NULL AND subject IS NULL AND issued_before IS NULL)
        OR (jti IS NULL AND subject IS NOT NULL AND issued_before IS NOT NULL))
);
