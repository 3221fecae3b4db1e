-- Revoked tokens. A row names one token (jti) or one subject whose tokens issued before
-- issued_before (microseconds since the epoch) are refused. Rows are only added: every server
-- holds them all in memory and checks each call against them.
CREATE TABLE token_revocations (
    seq INTEGER PRIMARY KEY,
    jti TEXT,
    subject TEXT,
    issued_before INTEGER,
    -- The subject of the admin who revoked, when (microseconds) and why.
    revoked_by TEXT NOT NULL,
    revoked_at INTEGER NOT NULL,
    reason TEXT NOT NULL,
    CHECK ((jti IS NOT NULL AND subject IS NULL AND issued_before IS NULL)
        OR (jti IS NULL AND subject IS NOT NULL AND issued_before IS NOT NULL))
);
