"""Writers for a run's artifacts: results.csv, tensors.npz, environment.json, report.md."""
