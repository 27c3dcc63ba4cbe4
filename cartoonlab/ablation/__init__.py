"""The ablation layer: the matrix, the runner and the report (top layer, above systems)."""
