"""The long-running service: watch → debounce → sync, reconcile, leader election."""
