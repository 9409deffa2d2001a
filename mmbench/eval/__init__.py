"""Evaluations behind ``mmbench eval <task>``: each returns a flat dict of plain-named metrics."""
