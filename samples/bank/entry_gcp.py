"""The bank sample on Cloud Functions: ``functions-framework --source samples/bank/entry_gcp.py
--target http`` serves its HTTP routes; ``--target portafn_project_balances`` and
``portafn_project_activity`` keep its views from the stream's document events."""

import sys
from pathlib import Path

# functions-framework puts this file's folder on sys.path, not the project root the app lives in.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from portafn_gcp import targets

from samples.bank.app import app

globals().update(targets(app))
