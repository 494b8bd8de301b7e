-- A neutralized database (a copy for testing or staging) must never talk to the live İYS:
-- every account is pointed at the local simulator and loses its credentials (without a push user,
-- the push endpoint refuses every call; the push password is derived from it, never stored).
UPDATE iys_account
   SET environment = 'simulator',
       username = NULL,
       password = NULL,
       push_username = NULL,
       push_info = NULL;
-- Tokens (and the H084 token lock) belong to the live API user: forget them.
DELETE FROM iys_token;
-- The pull cursors point into the live İYS feed.
UPDATE iys_brand
   SET iys_pull_after = NULL;
