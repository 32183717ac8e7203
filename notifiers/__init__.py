"""Delivery: Apprise fan-out to each team's recipients, and the local phone inbox for the demo."""
