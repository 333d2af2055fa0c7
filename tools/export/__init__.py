"""Export checks: ``python -m tools.export.bench`` (accuracy and CPU speed of the exports)."""
