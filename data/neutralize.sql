-- A neutralized database (a copy for testing or staging) must never talk to the live İYS:
-- every account is pointed at the local simulator and loses its credentials.
UPDATE iys_account
   SET environment = 'simulator',
       username = NULL,
       password = NULL;
