-- Canvass schema for the embedded SQLite store.
-- Instants are INTEGER microseconds since the Unix epoch; enums are the wire enums' numbers.

CREATE TABLE units (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    kind       INTEGER NOT NULL,
    parent_id  TEXT REFERENCES units (id),
    created_at INTEGER NOT NULL
);
CREATE INDEX units_by_parent ON units (parent_id);

-- A questionnaire is immutable once created, so it is kept whole as JSON: indicators with their
-- weights and options with their points.
CREATE TABLE questionnaires (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    definition TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
    id                   TEXT PRIMARY KEY,
    name                 TEXT NOT NULL,
    questionnaire_id     TEXT NOT NULL REFERENCES questionnaires (id),
    scope_unit_id        TEXT NOT NULL REFERENCES units (id),
    opens_at             INTEGER NOT NULL,
    closes_at            INTEGER NOT NULL,
    compared_campaign_id TEXT REFERENCES campaigns (id),
    min_sample           INTEGER NOT NULL,
    created_at           INTEGER NOT NULL
);

-- One row per accepted submission. `seq` gives the table an append-only physical order; the
-- client's UUID lives in a unique index, which also decides idempotency.
CREATE TABLE submissions (
    seq             INTEGER PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    submission_id   BLOB NOT NULL,
    -- SHA-256 of the canonical content: same id + same hash is a retry, else a conflict.
    content_hash    BLOB NOT NULL,
    unit_id         TEXT NOT NULL REFERENCES units (id),
    channel         INTEGER NOT NULL,
    -- Phone polls only (0 for visits).
    carrier         INTEGER NOT NULL,
    -- Phone polls only: HMAC-SHA256 of the E.164 number; the number itself is never stored.
    respondent_hash BLOB,
    -- Visits only.
    household_ref   TEXT,
    latitude        REAL,
    longitude       REAL,
    accuracy_m      REAL,
    started_at      INTEGER NOT NULL,
    ended_at        INTEGER NOT NULL,
    -- JSON object: indicator code -> option code.
    answers         TEXT NOT NULL,
    submitted_by    TEXT NOT NULL,
    accepted_at     INTEGER NOT NULL,
    UNIQUE (campaign_id, submission_id)
);
CREATE INDEX submissions_by_unit ON submissions (campaign_id, unit_id);

-- Sufficient statistics of accepted answers, per unit (own submissions only), indicator,
-- channel and carrier; maintained in the same transaction as the submissions they count.
CREATE TABLE indicator_stats (
    campaign_id    TEXT NOT NULL,
    unit_id        TEXT NOT NULL,
    indicator_code TEXT NOT NULL,
    channel        INTEGER NOT NULL,
    carrier        INTEGER NOT NULL,
    n_valid        INTEGER NOT NULL,
    -- "Don't know" and "refused": counted, never scored.
    n_excluded     INTEGER NOT NULL,
    sum_points     INTEGER NOT NULL,
    sum_points_sq  INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, indicator_code, channel, carrier)
) WITHOUT ROWID;

CREATE TABLE submission_counts (
    campaign_id TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    channel     INTEGER NOT NULL,
    carrier     INTEGER NOT NULL,
    submissions INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, channel, carrier)
) WITHOUT ROWID;
