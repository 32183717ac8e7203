"""Developer tools: the embedded broker, worker subprocesses, the demo and the live drills."""
