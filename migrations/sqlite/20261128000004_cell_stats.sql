-- Aggregates in one row per unit and cell: the accepted submissions and the moments of every
-- indicator, so a submission updates one aggregate row instead of one per indicator.
-- `moments` is a JSON array of whole numbers, four per indicator in questionnaire order
-- (valid answers, excluded answers, sum of points, sum of squared points); trailing
-- indicators nobody answered may be missing.

CREATE TABLE cell_stats (
    campaign_id TEXT NOT NULL,
    unit_id     TEXT NOT NULL,
    channel     INTEGER NOT NULL,
    -- 0 for visits, as in submissions.
    carrier     INTEGER NOT NULL,
    -- '' when the campaign weights by no respondent attribute.
    stratum     TEXT NOT NULL,
    submissions INTEGER NOT NULL,
    moments     TEXT NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, channel, carrier, stratum)
) WITHOUT ROWID;

INSERT INTO cell_stats (campaign_id, unit_id, channel, carrier, stratum, submissions, moments)
SELECT c.campaign_id, c.unit_id, c.channel, c.carrier, c.stratum, c.submissions,
    coalesce((
        SELECT '[' || group_concat(
                coalesce(s.n_valid, 0) || ',' || coalesce(s.n_excluded, 0) || ',' ||
                coalesce(s.sum_points, 0) || ',' || coalesce(s.sum_points_sq, 0),
                ',' ORDER BY q.key) || ']'
        FROM campaigns AS k
        JOIN questionnaires AS qn ON qn.id = k.questionnaire_id
        CROSS JOIN json_each(qn.definition) AS q
        LEFT JOIN indicator_stats AS s ON s.campaign_id = c.campaign_id
            AND s.unit_id = c.unit_id AND s.channel = c.channel AND s.carrier = c.carrier
            AND s.stratum = c.stratum AND s.indicator_code = q.value ->> 'code'
        WHERE k.id = c.campaign_id
    ), '[]')
FROM submission_counts AS c;

DROP TABLE indicator_stats;
DROP TABLE submission_counts;

-- No query reads submissions by unit alone (review lists go through submissions_by_state, the
-- duplicate-household check through submissions_by_household), and each batch's inserts land
-- on random pages of this index, one per unit touched.
DROP INDEX submissions_by_unit;
