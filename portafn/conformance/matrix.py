"""The capability matrix, generated from the stores' own declarations so the docs cannot drift.

``render_markdown()`` reads every store a provider plugin declares (``portafn.plugins``)
(the class attribute ``capabilities``; no store is opened) and returns a Markdown table.
Run ``python -m portafn.conformance.matrix`` to print it.
"""

from __future__ import annotations

from collections.abc import Mapping

from portafn.plugins import load, store_schemes
from portafn.store.capabilities import Capabilities, Capability


def declared() -> dict[str, Capabilities | str]:
    """Each registered scheme's declared capabilities, or why they could not be read."""
    out: dict[str, Capabilities | str] = {}
    for scheme, ref in sorted(store_schemes().items()):
        try:
            cls = load(ref)
        except Exception as exc:  # an adapter that cannot import here is reported, not fatal
            out[scheme] = f"not importable: {type(exc).__name__}"
            continue
        caps = getattr(cls, "capabilities", None)
        if not isinstance(caps, Capabilities):
            # Declared in __init__ (local gaps depend on the endpoint): build one for the bare
            # scheme, which names the cloud service; stores make their SDK clients lazily.
            try:
                caps = cls(f"{scheme}://").capabilities
            except Exception as exc:
                out[scheme] = f"declared per instance ({type(exc).__name__} for {scheme}://)"
                continue
        out[scheme] = caps
    return out


def render_markdown(stores: Mapping[str, Capabilities | str] | None = None) -> str:
    """A Markdown table: one column per store, one row per capability and limit.

    ``yes`` is claimed, ``no`` raises ``Unsupported``, ``yes (local gap: ...)`` is claimed but not
    demonstrable on the local emulator.
    """
    found = dict(declared() if stores is None else stores)
    names = list(found)
    head = "| capability | " + " | ".join(f"`{n}://`" for n in names) + " |"
    rule = "|---|" + "---|" * len(names)
    rows = [head, rule]

    def cell(name: str, fn: object) -> str:
        caps = found[name]
        if isinstance(caps, str):
            return caps
        return str(fn(caps))  # type: ignore[operator]

    for cap in Capability:

        def claim(caps: Capabilities, cap: Capability = cap) -> str:
            if not caps.has(cap):
                return "no"
            gap = caps.local_gaps.get(cap)
            return f"yes (local gap: {gap})" if gap else "yes"

        rows.append(f"| {cap.value} | " + " | ".join(cell(n, claim) for n in names) + " |")
    limits = [
        ("max transaction items", lambda c: c.max_transaction_items),
        ("batch write size", lambda c: c.batch_write_size),
        ("batch get size", lambda c: c.batch_get_size),
        ("max item bytes", lambda c: c.max_item_bytes),
    ]
    for label, get in limits:
        rows.append(f"| {label} | " + " | ".join(cell(n, get) for n in names) + " |")
    return "\n".join(rows) + "\n"


if __name__ == "__main__":
    print(render_markdown(), end="")
