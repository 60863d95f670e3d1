"""One run of the pipeline: its stages, the orchestration that runs them in a run directory, and the
study cache that memoises the work its stages share with the study's other runs (`cache.py`)."""
