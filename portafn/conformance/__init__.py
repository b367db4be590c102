"""The store conformance suite: proof that a store behaves as its declaration says.

Run it from the command line (``portafn conformance STORE_URL [--json FILE]``) or from Python::

    from portafn import conformance

    report = conformance.run("sqlite:///tmp/check.db")
    print(report.table())
    assert report.ok

Every store gets the core cases. A capability's cases run only where the store claims it; for each
capability it does not claim, the suite checks that using it raises ``Unsupported`` naming the
store and the capability. A claimed capability the store lists in ``local_gaps`` is reported as a
``local gap`` with its reason: shown, neither hidden nor passed.

For pytest, parametrize over ``CASES``, turn each into a row with ``plan_case(store.capabilities,
case)`` and call ``execute`` (see ``tests/stores/test_conformance.py`` and ``docs/stores.md``), so
each case is its own test id.
"""

from portafn.conformance.cases import CASES, UNCLAIMED, Case
from portafn.conformance.harness import Harness
from portafn.conformance.runner import Planned, Report, Result, execute, plan, plan_case, redact, run

__all__ = [
    "CASES",
    "UNCLAIMED",
    "Case",
    "Harness",
    "Planned",
    "Report",
    "Result",
    "execute",
    "plan",
    "plan_case",
    "redact",
    "run",
]
