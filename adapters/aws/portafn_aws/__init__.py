"""portafn adapter for aws."""
