-- Aggregates in one row per unit and cell: the accepted submissions and the moments of every
-- indicator, so a submission updates one aggregate row instead of one per indicator.
-- `moments` holds four numbers per indicator in questionnaire order (valid answers, excluded
-- answers, sum of points, sum of squared points); trailing indicators nobody answered may be
-- missing.

CREATE TABLE cell_stats (
    campaign_id text NOT NULL,
    unit_id     text NOT NULL,
    channel     smallint NOT NULL,
    -- 0 for visits, as in submissions.
    carrier     smallint NOT NULL,
    -- '' when the campaign weights by no respondent attribute.
    stratum     text NOT NULL,
    submissions bigint NOT NULL,
    moments     bigint[] NOT NULL,
    PRIMARY KEY (campaign_id, unit_id, channel, carrier, stratum)
) WITH (fillfactor = 70); -- room on each page for HOT updates: every batch updates these rows

-- Element-wise sum; the shorter array counts as zeros beyond its end. Writers add their
-- deltas with it inside the upsert, so concurrent writers never overwrite each other.
CREATE FUNCTION add_moments(a bigint[], b bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
BEGIN
    FOR i IN 1 .. greatest(cardinality(a), cardinality(b)) LOOP
        a[i] := coalesce(a[i], 0) + coalesce(b[i], 0);
    END LOOP;
    RETURN a;
END
$$;

INSERT INTO cell_stats (campaign_id, unit_id, channel, carrier, stratum, submissions, moments)
SELECT c.campaign_id, c.unit_id, c.channel, c.carrier, c.stratum, c.submissions,
    coalesce((
        SELECT array_agg(slot.value ORDER BY q.position, slot.n)
        FROM campaigns AS k
        JOIN questionnaires AS qn ON qn.id = k.questionnaire_id
        CROSS JOIN jsonb_array_elements(qn.definition) WITH ORDINALITY AS q (indicator, position)
        LEFT JOIN indicator_stats AS s ON s.campaign_id = c.campaign_id
            AND s.unit_id = c.unit_id AND s.channel = c.channel AND s.carrier = c.carrier
            AND s.stratum = c.stratum AND s.indicator_code = q.indicator ->> 'code'
        CROSS JOIN LATERAL (VALUES
            (1, coalesce(s.n_valid, 0)), (2, coalesce(s.n_excluded, 0)),
            (3, coalesce(s.sum_points, 0)), (4, coalesce(s.sum_points_sq, 0))
        ) AS slot (n, value)
        WHERE k.id = c.campaign_id
    ), '{}')
FROM submission_counts AS c;

DROP TABLE indicator_stats;
DROP TABLE submission_counts;

-- No query reads submissions by unit alone (review lists go through submissions_by_state, the
-- duplicate-household check through submissions_by_household), and each batch's inserts land
-- on random pages of this index, one per unit touched.
DROP INDEX submissions_by_unit;
