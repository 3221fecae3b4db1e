-- The households that have a stored visit, one row per (campaign, unit, household). A batch
-- claims its visits' households here before inserting them: a second transaction claiming the
-- same household waits for the first to commit and then finds it taken. Looking the household
-- up in submissions could not see a batch committing beside it, so two first visits to one
-- household, committed side by side, were both counted.
CREATE TABLE households (
    campaign_id   text NOT NULL,
    unit_id       text NOT NULL,
    household_ref text NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, household_ref)
);

INSERT INTO households (campaign_id, unit_id, household_ref)
SELECT DISTINCT campaign_id, unit_id, household_ref FROM submissions
WHERE household_ref IS NOT NULL;

-- Only the duplicate-household lookup read this index; the claims table replaces it.
DROP INDEX submissions_by_household;
