"""functions-framework's source file for the hostile app (its ``http`` target)."""

from portafn_gcp import targets

from tests.hostile.apps import app

globals().update(targets(app))
