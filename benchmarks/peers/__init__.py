"""The peers portafn is measured against, written by hand the way a user without portafn would.

The Lambda peers (``aws_native``, ``aws_powertools``) import nothing from this package or from
portafn, so the cold-start benchmark can copy each one alone into a fresh task folder.
"""
