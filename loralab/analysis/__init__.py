"""From a study's run directories to statistics, figures, tables and a report (no training imports)."""
