"""Rule files (`rules/*.yaml`, written by ops): typed models, loading with line numbers, checks."""
