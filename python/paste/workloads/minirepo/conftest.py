"""pytest root of the coding workload's sample repository (puts `textkit` on sys.path)."""
