"""The ingest sample: a storage event validated, transformed and fanned out by publish."""
