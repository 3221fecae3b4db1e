-- How many valid answers chose one of each indicator's top three options (DOMAIN.md's share
-- satisfied): a JSON array with one number per indicator in questionnaire order, as in
-- `moments`. NULL on rows written before the count was kept; a starting server counts those
-- from their submissions (see `count_top_three` in the store) before it takes any write.
ALTER TABLE cell_stats ADD COLUMN top_three TEXT;
