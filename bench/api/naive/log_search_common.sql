-- Log search without the trigram index: ILIKE over every tail.
SET enable_bitmapscan = off;
SELECT l.job_id, l.step_number, l.content FROM logs l
 WHERE l.content ILIKE '%restored%' ORDER BY l.job_id DESC, l.step_number DESC LIMIT 21;
