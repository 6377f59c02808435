"""The sync pipeline: scan → parse → validate → register.

A library that knows nothing of the daemon: the CLI, the daemon and the HTTP
API all drive it through `packsync.sync.service`.
"""
