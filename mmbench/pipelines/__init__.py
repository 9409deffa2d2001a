"""Task pipelines, one module per task (loaded lazily through :func:`mmbench.pipeline`)."""
