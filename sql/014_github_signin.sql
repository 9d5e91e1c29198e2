-- "Sign in with GitHub" (issue 12.2): the OAuth web flow of the GitHub App.
--
--   sessions.github_token            the user access token GitHub gave at sign-in (a bearer
--                                    token for the GitHub API as that user; visibility reads
--                                    it). Never in any reply or log.
--   sessions.github_token_expires_at when GitHub said it expires (NULL: it does not expire)
--   github_signin_states             one row per sign-in under way: the hash of the `state`
--                                    sent to GitHub, the hash of the browser's binding cookie,
--                                    the PKCE verifier, where to go afterwards. Taken (deleted)
--                                    by the callback: single use; older than 10 minutes: void.
--
-- GitHub users are rows of users with github_id and github_login set and password_hash NULL
-- (010 has the columns). Their username is their GitHub login when it is free, else
-- "<login>-gh<id>".

ALTER TABLE sessions
    ADD COLUMN github_token text,
    ADD COLUMN github_token_expires_at timestamptz;

CREATE TABLE github_signin_states (
    state_hash   text PRIMARY KEY,         -- SHA-256 hex of the state parameter
    browser_hash text NOT NULL,            -- SHA-256 hex of the cipulse_oauth cookie's value
    verifier     text NOT NULL,            -- PKCE code_verifier (43 characters)
    next_path    text NOT NULL DEFAULT '/',
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX github_signin_states_created_idx ON github_signin_states (created_at);
