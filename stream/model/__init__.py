"""The shared vocabulary: events, timeline records, errors, time-zone fields. Imports nothing else of Vigil."""
