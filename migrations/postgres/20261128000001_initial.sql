-- Canvass schema for the PostgreSQL store.
-- Enums are the wire enums' numbers (smallint). The large tables (submissions, indicator_stats,
-- submission_counts) lead with campaign_id and every unique key includes it, so they can later
-- be partitioned (or distributed) by campaign without changing a key.

CREATE TABLE units (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    kind       smallint NOT NULL,
    parent_id  text REFERENCES units (id),
    created_at timestamptz NOT NULL
);
CREATE INDEX units_by_parent ON units (parent_id);

-- A questionnaire is immutable once created, so it is kept whole: indicators with their weights
-- and options with their points.
CREATE TABLE questionnaires (
    id         text PRIMARY KEY,
    name       text NOT NULL,
    definition jsonb NOT NULL,
    created_at timestamptz NOT NULL
);

CREATE TABLE campaigns (
    id                   text PRIMARY KEY,
    name                 text NOT NULL,
    questionnaire_id     text NOT NULL REFERENCES questionnaires (id),
    scope_unit_id        text NOT NULL REFERENCES units (id),
    opens_at             timestamptz NOT NULL,
    closes_at            timestamptz NOT NULL,
    compared_campaign_id text REFERENCES campaigns (id),
    -- bigint: the domain value is a u32, which does not fit integer.
    min_sample           bigint NOT NULL CHECK (min_sample >= 0),
    created_at           timestamptz NOT NULL
);

-- One row per accepted submission. `seq` orders rows by arrival (appends go to the right edge
-- of the primary key); the client's UUID lives in a unique index, which also decides
-- idempotency.
CREATE TABLE submissions (
    campaign_id     text NOT NULL REFERENCES campaigns (id),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    submission_id   uuid NOT NULL,
    -- SHA-256 of the canonical content: same id + same hash is a retry, else a conflict.
    content_hash    bytea NOT NULL,
    unit_id         text NOT NULL REFERENCES units (id),
    channel         smallint NOT NULL,
    -- Phone polls only (0 for visits, so that it can be part of aggregate keys).
    carrier         smallint NOT NULL,
    -- Phone polls only: HMAC-SHA256 of the E.164 number; the number itself is never stored.
    respondent_hash bytea,
    -- Visits only.
    household_ref   text,
    latitude        double precision,
    longitude       double precision,
    accuracy_m      double precision,
    started_at      timestamptz NOT NULL,
    ended_at        timestamptz NOT NULL,
    -- Object: indicator code -> option code.
    answers         jsonb NOT NULL,
    submitted_by    text NOT NULL,
    -- When the commit that stored the row was accepted; a retry is answered with this instant.
    accepted_at     timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, seq),
    UNIQUE (campaign_id, submission_id)
);
CREATE INDEX submissions_by_unit ON submissions (campaign_id, unit_id);

-- Sufficient statistics of accepted answers, per unit (own submissions only), indicator,
-- channel and carrier; maintained in the same transaction as the submissions they count.
-- Points are whole numbers, so the sums are exact.
CREATE TABLE indicator_stats (
    campaign_id    text NOT NULL,
    unit_id        text NOT NULL,
    indicator_code text NOT NULL,
    channel        smallint NOT NULL,
    -- 0 for visits, as in submissions.
    carrier        smallint NOT NULL,
    n_valid        bigint NOT NULL,
    -- "Don't know" and "refused": counted, never scored.
    n_excluded     bigint NOT NULL,
    sum_points     bigint NOT NULL,
    sum_points_sq  bigint NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, indicator_code, channel, carrier)
) WITH (fillfactor = 70); -- room on each page for HOT updates: every batch updates these rows

CREATE TABLE submission_counts (
    campaign_id text NOT NULL,
    unit_id     text NOT NULL,
    channel     smallint NOT NULL,
    -- 0 for visits, as in submissions.
    carrier     smallint NOT NULL,
    submissions bigint NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, channel, carrier)
) WITH (fillfactor = 70);
