"""The ``portafn`` command."""
