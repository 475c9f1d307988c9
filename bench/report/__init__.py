"""The HTML report: records on disk -> ``reports/<run-id>/index.html`` (+ leaderboard CSV/MD)."""
