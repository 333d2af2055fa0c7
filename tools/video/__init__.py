"""Video tools: temporal-consistency metrics and the measurements in docs/video/."""
