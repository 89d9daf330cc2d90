"""Running the model: single runs, validation, comparisons, sweeps and benchmarks."""

from experiments.sweep import load_results  # noqa: F401  (results of `h100sim sweep`)
