"""HTTP served on the daemon's own event loop: probes, metrics, later /api/v1."""
