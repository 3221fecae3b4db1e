-- A rejected phone interview is not an interview: its call case falls back to its other
-- attempts, or stands as an other eligible non-interview (O) when it has none.
-- stand_in is 1 for such a case: no attempt decides it, and the first attempt logged does,
-- whatever its time. Rejections by older servers are withdrawn by a starting server (see
-- `withdraw_rejected_interviews` in the store).
ALTER TABLE call_cases ADD COLUMN stand_in INTEGER NOT NULL DEFAULT 0;

-- The attempts of one case, which decide it once its interview is rejected.
CREATE INDEX call_attempts_by_case ON call_attempts (campaign_id, respondent_hash);
