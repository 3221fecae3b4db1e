-- Fieldwork: unit areas, per-campaign quality rules and AAPOR e, review state and quality flags
-- of submissions, call attempts and their cases, the review audit trail, and grievances.

ALTER TABLE units ADD COLUMN area_latitude double precision,
    ADD COLUMN area_longitude double precision,
    ADD COLUMN area_radius_m double precision;

ALTER TABLE campaigns ADD COLUMN quality_rules jsonb, -- NULL means the defaults
    ADD COLUMN eligibility_rate double precision; -- AAPOR e when fixed; NULL = proportional

-- 1 RECEIVED, 2 FLAGGED, 3 APPROVED, 4 REJECTED; only 1 and 3 are in the aggregates.
ALTER TABLE submissions ADD COLUMN review_state smallint NOT NULL DEFAULT 1,
    -- QualityFlag names; empty when every check passed.
    ADD COLUMN quality_flags text NOT NULL DEFAULT '';
CREATE INDEX submissions_by_state ON submissions (campaign_id, review_state, seq);
CREATE INDEX submissions_by_household ON submissions (campaign_id, unit_id, household_ref)
    WHERE household_ref IS NOT NULL;
-- One interview per respondent (keyed hash of the phone number) per campaign.
CREATE UNIQUE INDEX submissions_one_interview_per_respondent
    ON submissions (campaign_id, respondent_hash) WHERE respondent_hash IS NOT NULL;

CREATE TABLE call_attempts (
    campaign_id     text NOT NULL REFERENCES campaigns (id),
    seq             bigint GENERATED ALWAYS AS IDENTITY,
    attempt_id      uuid NOT NULL,
    content_hash    bytea NOT NULL,
    respondent_hash bytea NOT NULL,
    unit_id         text NOT NULL REFERENCES units (id),
    carrier         smallint NOT NULL,
    disposition     smallint NOT NULL, -- CallDisposition number
    attempted_at    timestamptz NOT NULL,
    submitted_by    text NOT NULL,
    accepted_at     timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, seq),
    UNIQUE (campaign_id, attempt_id)
);

-- A case is one respondent in one campaign; its final disposition decides its AAPOR group.
CREATE TABLE call_cases (
    campaign_id     text NOT NULL,
    respondent_hash bytea NOT NULL,
    unit_id         text NOT NULL,
    carrier         smallint NOT NULL,
    disposition     smallint NOT NULL,
    decided_at      timestamptz NOT NULL, -- time of the deciding attempt
    PRIMARY KEY (campaign_id, respondent_hash)
);

-- Cases per final disposition, maintained with call_cases so rates read per unit, not per case.
CREATE TABLE disposition_counts (
    campaign_id text NOT NULL,
    unit_id     text NOT NULL,
    carrier     smallint NOT NULL,
    disposition smallint NOT NULL,
    cases       bigint NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, carrier, disposition)
) WITH (fillfactor = 70);

CREATE TABLE review_actions (
    campaign_id   text NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    submission_id uuid NOT NULL,
    reviewer      text NOT NULL,
    decision      smallint NOT NULL, -- ReviewDecision number
    from_state    smallint NOT NULL,
    to_state      smallint NOT NULL,
    reason        text NOT NULL,
    acted_at      timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, seq)
);
CREATE INDEX review_actions_by_submission ON review_actions (campaign_id, submission_id);

CREATE TABLE grievances (
    campaign_id   text NOT NULL,
    seq           bigint GENERATED ALWAYS AS IDENTITY,
    grievance_id  text NOT NULL,
    submission_id uuid NOT NULL,
    unit_id       text NOT NULL,
    category      text NOT NULL,
    description   text NOT NULL,
    urgency       smallint NOT NULL,
    status        smallint NOT NULL, -- 1 OPEN, 2 IN_PROGRESS, 3 RESOLVED
    raised_at     timestamptz NOT NULL,
    resolved_at   timestamptz,
    updated_at    timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, seq),
    UNIQUE (campaign_id, grievance_id)
);
CREATE INDEX grievances_by_unit ON grievances (campaign_id, unit_id);
