-- packsync 0002: history is pruned per sync_group (several hosts share one
-- database; one group's pruning must not eat another group's history).
CREATE INDEX sync_run_group_idx ON sync_run (sync_group, id);
