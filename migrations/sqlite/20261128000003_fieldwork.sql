-- Fieldwork: unit areas, per-campaign quality rules and AAPOR e, review state and quality flags
-- of submissions, call attempts and their cases, the review audit trail, and grievances.

ALTER TABLE units ADD COLUMN area_latitude REAL;
ALTER TABLE units ADD COLUMN area_longitude REAL;
ALTER TABLE units ADD COLUMN area_radius_m REAL;

ALTER TABLE campaigns ADD COLUMN quality_rules TEXT; -- JSON; NULL means the defaults
ALTER TABLE campaigns ADD COLUMN eligibility_rate REAL; -- AAPOR e when fixed; NULL = proportional

-- 1 RECEIVED, 2 FLAGGED, 3 APPROVED, 4 REJECTED; only 1 and 3 are in the aggregates.
ALTER TABLE submissions ADD COLUMN review_state INTEGER NOT NULL DEFAULT 1;
-- Comma-separated QualityFlag names; empty when every check passed.
ALTER TABLE submissions ADD COLUMN quality_flags TEXT NOT NULL DEFAULT '';
CREATE INDEX submissions_by_state ON submissions (campaign_id, review_state, seq);
CREATE INDEX submissions_by_household ON submissions (campaign_id, unit_id, household_ref)
    WHERE household_ref IS NOT NULL;
-- One interview per respondent (keyed hash of the phone number) per campaign.
CREATE UNIQUE INDEX submissions_one_interview_per_respondent
    ON submissions (campaign_id, respondent_hash) WHERE respondent_hash IS NOT NULL;

CREATE TABLE call_attempts (
    seq             INTEGER PRIMARY KEY,
    campaign_id     TEXT NOT NULL REFERENCES campaigns (id),
    attempt_id      BLOB NOT NULL,
    content_hash    BLOB NOT NULL,
    respondent_hash BLOB NOT NULL,
    unit_id         TEXT NOT NULL REFERENCES units (id),
    carrier         INTEGER NOT NULL,
    disposition     INTEGER NOT NULL, -- CallDisposition number
    attempted_at    INTEGER NOT NULL,
    submitted_by    TEXT NOT NULL,
    accepted_at     INTEGER NOT NULL,
    UNIQUE (campaign_id, attempt_id)
);

-- A case is one respondent in one campaign; its final disposition decides its AAPOR group.
CREATE TABLE call_cases (
    campaign_id     TEXT NOT NULL,
    respondent_hash BLOB NOT NULL,
    unit_id         TEXT NOT NULL,
    carrier         INTEGER NOT NULL,
    disposition     INTEGER NOT NULL,
    decided_at      INTEGER NOT NULL, -- time of the deciding attempt
    PRIMARY KEY (campaign_id, respondent_hash)
) WITHOUT ROWID;

-- Cases per final disposition, maintained with call_cases so rates read per unit, not per case.
CREATE TABLE disposition_counts (
    campaign_id TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    carrier     INTEGER NOT NULL,
    disposition INTEGER NOT NULL,
    cases       INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, carrier, disposition)
) WITHOUT ROWID;

CREATE TABLE review_actions (
    seq           INTEGER PRIMARY KEY,
    campaign_id   TEXT NOT NULL,
    submission_id BLOB NOT NULL,
    reviewer      TEXT NOT NULL,
    decision      INTEGER NOT NULL, -- ReviewDecision number
    from_state    INTEGER NOT NULL,
    to_state      INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    acted_at      INTEGER NOT NULL
);
CREATE INDEX review_actions_by_submission ON review_actions (campaign_id, submission_id);

CREATE TABLE grievances (
    seq           INTEGER PRIMARY KEY,
    campaign_id   TEXT NOT NULL,
    grievance_id  TEXT NOT NULL,
    submission_id BLOB NOT NULL,
    unit_id       TEXT NOT NULL,
    category      TEXT NOT NULL,
    description   TEXT NOT NULL,
    urgency       INTEGER NOT NULL,
    status        INTEGER NOT NULL, -- 1 OPEN, 2 IN_PROGRESS, 3 RESOLVED
    raised_at     INTEGER NOT NULL,
    resolved_at   INTEGER,
    updated_at    INTEGER NOT NULL,
    UNIQUE (campaign_id, grievance_id)
);
CREATE INDEX grievances_by_unit ON grievances (campaign_id, unit_id);
