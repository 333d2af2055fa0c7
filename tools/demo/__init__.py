"""Demo checks: ``python -m tools.demo.screenshot`` (README screenshot, click-to-image time)."""
