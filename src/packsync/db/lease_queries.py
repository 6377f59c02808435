"""SQL of the leader lease (daemon/leader.py) and of its fencing check
(fencing.py). Table names are unqualified, like every packsync query.

Times come from the database clock (`clock_timestamp()`), never from the
daemons': replicas on different hosts need not agree on the time. The fence
is a transaction-level advisory lock keyed by (schema, group): writing pack
transactions hold it shared while they check the lease and commit, a
takeover holds it exclusively while it bumps the epoch, so a commit of the
old leader is always ordered before the new epoch exists.
"""

from __future__ import annotations

_FENCE_KEY = "hashtextextended('packsync:fence:' || $1::text || ':' || $2::text, 0)"

# $1 schema, $2 group
FENCE_SHARED = f"SELECT pg_advisory_xact_lock_shared({_FENCE_KEY})"
FENCE_EXCLUSIVE = f"SELECT pg_advisory_xact_lock({_FENCE_KEY})"

# $1 group, $2 holder, $3 epoch
LEASE_HELD = """
SELECT EXISTS (SELECT 1 FROM leader_lease WHERE sync_group = $1 AND holder = $2
               AND epoch = $3 AND expires > clock_timestamp())
"""

# $1 group, $2 holder, $3 lease seconds. Taken when free, expired, held by a
# session that no longer exists, or already ours; the epoch goes up every time.
ACQUIRE = """
INSERT INTO leader_lease AS l (sync_group, holder, epoch, backend_pid, acquired, expires)
VALUES ($1, $2, 1, pg_backend_pid(), clock_timestamp(),
        clock_timestamp() + make_interval(secs => $3::float8))
ON CONFLICT (sync_group) DO UPDATE SET
    holder = EXCLUDED.holder, epoch = l.epoch + 1, backend_pid = EXCLUDED.backend_pid,
    acquired = EXCLUDED.acquired, expires = EXCLUDED.expires
WHERE l.holder = EXCLUDED.holder OR l.expires <= clock_timestamp()
   OR NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid)
RETURNING l.epoch
"""

# $1 group, $2 holder, $3 epoch, $4 lease seconds: NULL when the lease is lost.
RENEW = """
UPDATE leader_lease SET expires = clock_timestamp() + make_interval(secs => $4::float8)
WHERE sync_group = $1 AND holder = $2 AND epoch = $3 AND expires > clock_timestamp()
RETURNING expires
"""

# $1 group, $2 holder, $3 epoch: a clean shutdown hands over at once.
RELEASE = """
UPDATE leader_lease SET expires = clock_timestamp()
WHERE sync_group = $1 AND holder = $2 AND epoch = $3
"""

# $1 group: the lock session of a holder whose lease expired but which is
# still connected (frozen, partitioned): a standby ends it to take over.
EXPIRED_HOLDER = """
SELECT l.backend_pid FROM leader_lease l
WHERE l.sync_group = $1 AND l.expires <= clock_timestamp() AND l.backend_pid <> pg_backend_pid()
  AND EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = l.backend_pid)
"""
TERMINATE = "SELECT pg_terminate_backend($1)"

# $1 schema, $2 group: end the transactions still holding the fence shared
# while the group's lease is expired (a leader frozen between its check and
# its commit would otherwise block the takeover forever).
TERMINATE_FENCE_HOLDERS = f"""
SELECT count(pg_terminate_backend(k.pid)) FROM pg_locks k
WHERE k.locktype = 'advisory' AND k.granted AND k.pid <> pg_backend_pid()
  AND k.database = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND k.objsubid = 1 AND ((k.classid::bigint << 32) | k.objid::bigint) = {_FENCE_KEY}
  AND EXISTS (SELECT 1 FROM leader_lease l
              WHERE l.sync_group = $2 AND l.expires <= clock_timestamp())
"""  # noqa: S608 - only the constant key expression is formatted in
