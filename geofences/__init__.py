"""Coverage: who covers which place (H3 cells compiled from planner files), and the lookups on it."""
