"""The orders sample: HTTP create/get/list, a queue consumer, a nightly schedule, a change feed."""
