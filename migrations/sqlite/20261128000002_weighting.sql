-- Weighting: campaigns may carry population margins, submissions carry respondent attributes,
-- and aggregates are kept per stratum (the attributes a campaign weights by) so weighted
-- estimates stay incremental.

ALTER TABLE campaigns ADD COLUMN weighting TEXT; -- JSON; NULL for unweighted campaigns
ALTER TABLE submissions ADD COLUMN respondent_attributes TEXT NOT NULL DEFAULT '{}'; -- JSON object

-- SQLite cannot change a primary key in place: rebuild both aggregate tables with `stratum`
-- ('' when the campaign weights by no respondent attribute) in the key.
CREATE TABLE indicator_stats_new (
    campaign_id    TEXT NOT NULL,
    unit_id        TEXT NOT NULL,
    indicator_code TEXT NOT NULL,
    channel        INTEGER NOT NULL,
    carrier        INTEGER NOT NULL,
    stratum        TEXT NOT NULL,
    n_valid        INTEGER NOT NULL,
    n_excluded     INTEGER NOT NULL,
    sum_points     INTEGER NOT NULL,
    sum_points_sq  INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, indicator_code, channel, carrier, stratum)
) WITHOUT ROWID;
INSERT INTO indicator_stats_new
    SELECT campaign_id, unit_id, indicator_code, channel, carrier, '', n_valid, n_excluded,
           sum_points, sum_points_sq
    FROM indicator_stats;
DROP TABLE indicator_stats;
ALTER TABLE indicator_stats_new RENAME TO indicator_stats;

CREATE TABLE submission_counts_new (
    campaign_id TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    channel     INTEGER NOT NULL,
    carrier     INTEGER NOT NULL,
    stratum     TEXT NOT NULL,
    submissions INTEGER NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, channel, carrier, stratum)
) WITHOUT ROWID;
INSERT INTO submission_counts_new
    SELECT campaign_id, unit_id, channel, carrier, '', submissions FROM submission_counts;
DROP TABLE submission_counts;
ALTER TABLE submission_counts_new RENAME TO submission_counts;
