"""The comparison study: runs, cost, figures, report (uses only the public library API)."""
