"""The Faust shell: the app wiring (``app``) and one module per agent; the worker process (``worker``)."""
