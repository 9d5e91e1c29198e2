-- GitHub App mode (issue 12.1): the app's installations, and which installation a repository
-- is read through. Repositories come and go with installation webhooks: added ones are
-- registered, removed ones are retired (retired_at set: the poller leaves them alone, their
-- history stays and is shown; added again, they are polled again).

CREATE TABLE github_installations (
    -- GitHub's installation id.
    id              bigint PRIMARY KEY,
    account_login   text NOT NULL,
    account_type    text NOT NULL,          -- 'Organization' or 'User'
    suspended_at    timestamptz,            -- suspended on GitHub: no token, no polling
    created_at      timestamptz NOT NULL DEFAULT now(),
    removed_at      timestamptz,            -- the app was uninstalled (installation deleted)
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- No foreign key: a repository keeps the id of an installation that was removed (its history
-- says where it came from), and installation rows are never deleted.
ALTER TABLE repositories ADD COLUMN installation_id bigint;
ALTER TABLE repositories ADD COLUMN retired_at timestamptz;
CREATE INDEX repositories_installation_idx ON repositories (installation_id)
    WHERE installation_id IS NOT NULL;

-- An installation's repository, from an `installation` or `installation_repositories` webhook:
-- registered, adopted (a repository registered by name takes GitHub's id, as a delivery signed
-- with the organisation's secret may: only when it has no webhook secret of its own) or
-- brought back from retirement. A repository that another installation still holds, or whose
-- name another repository holds, is left alone ('skipped'): a delivery acts for the
-- repositories of its own installation only. Returns what was done.
CREATE FUNCTION cipulse_installation_add_repo(p_inst bigint, p_id bigint, p_name text)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    cur record;
BEGIN
    SELECT r.id, r.installation_id, r.retired_at,
           (i.id IS NULL OR i.removed_at IS NOT NULL) AS holder_gone
      INTO cur FROM repositories r LEFT JOIN github_installations i ON i.id = r.installation_id
     WHERE r.id = p_id FOR UPDATE OF r;
    IF FOUND THEN
        IF cur.installation_id IS NOT NULL AND cur.installation_id <> p_inst
           AND cur.retired_at IS NULL AND NOT cur.holder_gone THEN
            RETURN 'skipped';
        END IF;
        IF cur.installation_id IS NOT DISTINCT FROM p_inst AND cur.retired_at IS NULL THEN
            RETURN 'kept';
        END IF;
        UPDATE repositories SET installation_id = p_inst, retired_at = NULL, updated_at = now()
         WHERE id = p_id;
        RETURN CASE WHEN cur.retired_at IS NULL THEN 'joined' ELSE 'restored' END;
    END IF;
    SELECT id, webhook_secret IS NOT NULL AS own_secret INTO cur FROM repositories
     WHERE full_name = p_name FOR UPDATE;
    IF FOUND THEN
        IF cur.id > 0 OR cur.own_secret THEN
            RETURN 'skipped';
        END IF;
        -- ON UPDATE CASCADE carries the id into tokens, workflows and runs.
        UPDATE repositories SET id = p_id, installation_id = p_inst, retired_at = NULL,
               updated_at = now() WHERE id = cur.id;
        RETURN 'adopted';
    END IF;
    INSERT INTO repositories (id, full_name, installation_id) VALUES (p_id, p_name, p_inst);
    RETURN 'registered';
END $$;

-- Retires one repository of installation p_inst (none of another's): the poller leaves it
-- alone, its history stays. True when it was retired now.
CREATE FUNCTION cipulse_installation_retire_repo(p_inst bigint, p_id bigint)
RETURNS boolean LANGUAGE sql AS $$
    WITH r AS (
        UPDATE repositories SET retired_at = now(), updated_at = now()
         WHERE id = p_id AND installation_id = p_inst AND retired_at IS NULL RETURNING 1)
    SELECT EXISTS (SELECT 1 FROM r)
$$;
