"""MkDocs hooks: generated sections, so the docs cannot drift from the code.

``<!-- capability-matrix -->`` in a page becomes the capability matrix rendered from every installed
store's own declaration.
"""

from __future__ import annotations

from typing import Any

MARKER = "<!-- capability-matrix -->"


def on_page_markdown(markdown: str, **_: Any) -> str:
    """Replace the capability-matrix marker with the generated table."""
    if MARKER not in markdown:
        return markdown
    from portafn.conformance.matrix import render_markdown

    return markdown.replace(MARKER, render_markdown())
