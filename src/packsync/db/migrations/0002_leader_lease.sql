-- packsync 0003: one leader lease per sync_group (daemon/leader.py, fencing.py).
-- The leader renews `expires` every third of the lease; a standby takes over a
-- lease that expired or whose holder's session is gone, bumping `epoch`. Every
-- writing pack transaction checks (holder, epoch) still holds an unexpired
-- lease before it commits, so a frozen leader that resumes cannot commit.
CREATE TABLE leader_lease (
    sync_group   text PRIMARY KEY,
    holder       text NOT NULL,      -- host:pid:random of the daemon that holds it
    epoch        bigint NOT NULL,    -- fencing token: +1 on every acquisition
    backend_pid  integer NOT NULL,   -- the holder's lock connection, for a takeover
    acquired     timestamptz NOT NULL,
    expires      timestamptz NOT NULL
);
