"""HTTP served on the daemon's own event loop: probes, metrics and /api/v1."""
