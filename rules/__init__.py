"""The protocol engine: which teams a shooting notifies, with what message and ack deadline."""
