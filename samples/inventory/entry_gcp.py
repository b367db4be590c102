"""The inventory sample on Cloud Functions: ``functions-framework --source samples/inventory/entry_gcp.py
--target http`` serves its HTTP routes; ``--target on_restock`` its queue function."""

import sys
from pathlib import Path

# functions-framework puts this file's folder on sys.path, not the project root the app lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from portafn_gcp import targets

from samples.inventory.app import app

globals().update(targets(app))
