"""portafn adapter for azure."""
