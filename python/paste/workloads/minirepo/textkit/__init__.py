"""textkit: the sample repository the coding workload's agents fix (small text and number tools)."""
