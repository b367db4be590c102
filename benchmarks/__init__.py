"""portafn's benchmarks: cold start, warm invocation, store overhead and artifact size, each measured
side by side with a hand-written peer in the same run. ``uv run python -m benchmarks.run [--quick]``
writes ``benchmarks/RESULTS.md``. Goals are ratios to the peer, never absolute timings."""
