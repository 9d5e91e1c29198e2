-- cipulse schema, version 23: log search reads the newest tails one by one and stops when the
-- page is full; it turns to the trigram index as soon as the matches are seen to be sparse.
--
-- cipulse_log_search (sql/016_repo_rollup.sql, sql/020_rollup_sums.sql; same arguments, same
-- rows) read its first range of 4,096 job ids whole (~410 tails at 1 GB of tails), sorted them
-- and matched each twice (the longest word, then the whole of q), before taking the page: 20-25 ms
-- in one backend for a word in every tail, whose page is the newest 21 tails. Now:
--
-- 1. The first range is read newest first through the job id index (a cursor, planned for its
--    first rows: an index scan and an incremental sort of each job's steps), and each tail is
--    matched once, against the whole of q (which holds the word). Matches are returned as they
--    come; the search ends when the page is full. For a word in every tail that is the page's
--    tails (about 1.3 ms instead of 20-25 ms).
-- 2. Once 32 tails have been read with fewer than one in eight matching, the rest (the tails
--    older than the last one read) is searched through the trigram index in ranges of job ids
--    growing eightfold from 4,096, as the wide ranges were before: a rare term no longer has a
--    whole first range matched tail by tail. A first range read whole at a density of one in
--    eight or more goes on with the ranges after it, from 32,768 job ids, as before.
--
-- The page is the same: every tail newer than where a phase stops has been matched, and the next
-- phase starts strictly below it, in the same order (job id, step number, both descending). The
-- queries run as the caller, so row-level security (store/visibility.c) narrows both phases. No
-- index is added or changed, so this migration costs nothing at any history size.
CREATE OR REPLACE FUNCTION cipulse_log_search(p_word text, p_pattern text, p_repos bigint[],
                                              p_before_job bigint, p_before_step integer,
                                              p_limit integer)
    RETURNS TABLE (repo_id bigint, job_id bigint, step_number integer, content text)
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    hi     bigint;
    lo     bigint;
    first  bigint;
    bj     bigint := p_before_job;   -- the search continues strictly below (bj, bs)
    bs     integer := p_before_step;
    width  bigint := 4096;
    got    integer := 0;             -- rows returned ("found" would hide FOUND)
    seen   integer := 0;             -- tails of the first range matched here
    sparse boolean := false;
    n      integer;
    r      record;
    cur    refcursor;
    -- The whole of q again only when it is more than the word the trigram index is asked for.
    filter CONSTANT text := CASE WHEN p_word = p_pattern THEN ''
                                 ELSE 'AND (l.content || '''') ILIKE $4 ESCAPE chr(92) ' END;
BEGIN
    SELECT l.job_id INTO hi FROM logs l ORDER BY l.job_id DESC LIMIT 1;
    SELECT l.job_id INTO first FROM logs l ORDER BY l.job_id LIMIT 1;
    IF hi IS NULL OR p_limit <= 0 THEN
        RETURN;
    END IF;
    hi := LEAST(hi, COALESCE(bj, hi));
    -- OPEN, not FOR: a cursor of OPEN is planned for its first rows (no sort of the whole range).
    OPEN cur NO SCROLL FOR EXECUTE
        'SELECT l.repo_id, l.job_id, l.step_number, l.content FROM logs l '
        'WHERE l.job_id > $1 AND l.job_id <= $2 '
        '  AND ($3::bigint[] IS NULL OR l.repo_id = ANY ($3)) '
        '  AND ($4::bigint IS NULL OR (l.job_id, l.step_number) < ($4, $5)) '
        'ORDER BY l.job_id DESC, l.step_number DESC'
        USING hi - width, hi, p_repos, bj, bs;
    LOOP
        FETCH cur INTO r;
        EXIT WHEN NOT FOUND;
        seen := seen + 1;
        bj := r.job_id;
        bs := r.step_number;
        IF r.content ILIKE p_pattern ESCAPE chr(92) THEN
            repo_id := r.repo_id;
            job_id := r.job_id;
            step_number := r.step_number;
            content := r.content;
            RETURN NEXT;
            got := got + 1;
            IF got >= p_limit THEN
                CLOSE cur;
                RETURN;
            END IF;
        END IF;
        IF seen >= 32 AND got * 8 < seen THEN
            sparse := true;
            EXIT;
        END IF;
    END LOOP;
    CLOSE cur;
    IF sparse THEN
        hi := bj;                 -- below the last tail read, from its own job id down
    ELSE
        hi := hi - width;         -- the first range was read whole
        width := width * 8;
    END IF;
    LOOP
        lo := hi - width;
        RETURN QUERY EXECUTE
            'SELECT l.repo_id, l.job_id, l.step_number, l.content FROM logs l '
            'WHERE l.job_id > $1 AND l.job_id <= $2 AND l.content ILIKE $3 ESCAPE chr(92) '
            || filter ||
            '  AND ($5::bigint[] IS NULL OR l.repo_id = ANY ($5)) '
            '  AND ($6::bigint IS NULL OR (l.job_id, l.step_number) < ($6, $7)) '
            'ORDER BY l.job_id DESC, l.step_number DESC LIMIT $8'
            USING lo, hi, p_word, p_pattern, p_repos, bj, bs, p_limit - got;
        GET DIAGNOSTICS n = ROW_COUNT;
        got := got + n;
        EXIT WHEN got >= p_limit OR lo < first;
        hi := lo;
        width := width * 8;
    END LOOP;
END $$;
