-- Weighting: campaigns may carry population margins, submissions carry respondent attributes,
-- and aggregates are kept per stratum (the attributes a campaign weights by) so weighted
-- estimates stay incremental.

ALTER TABLE campaigns ADD COLUMN weighting jsonb; -- NULL for unweighted campaigns
ALTER TABLE submissions ADD COLUMN respondent_attributes jsonb NOT NULL DEFAULT '{}';

-- '' when the campaign weights by no respondent attribute.
ALTER TABLE indicator_stats ADD COLUMN stratum text NOT NULL DEFAULT '';
ALTER TABLE indicator_stats DROP CONSTRAINT indicator_stats_pkey,
    ADD PRIMARY KEY (campaign_id, unit_id, indicator_code, channel, carrier, stratum);

ALTER TABLE submission_counts ADD COLUMN stratum text NOT NULL DEFAULT '';
ALTER TABLE submission_counts DROP CONSTRAINT submission_counts_pkey,
    ADD PRIMARY KEY (campaign_id, unit_id, channel, carrier, stratum);
