"""The `packsync` command line: a thin shell over packsync.sync.service."""
