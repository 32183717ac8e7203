"""The activation core: correlation, protocols applied, escalation cursors, the step rule, the state codec,
replay, scenario tests and backtests. Pure: explicit state and an injected clock; no I/O library imported
(tests/test_layers.py checks it)."""
