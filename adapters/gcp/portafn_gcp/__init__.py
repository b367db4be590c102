"""portafn adapter for gcp."""
