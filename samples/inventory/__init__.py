"""The inventory sample: what users expect from an HTTP framework, run on every provider."""
