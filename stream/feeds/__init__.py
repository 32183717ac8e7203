"""The feeds: EIDO, PIDF-LO, HL7 ADT, open-data CSV and classification, as pure functions from bytes to an
event, a skip or a dead letter; and beside them the network listeners (MLLP, HTTP ingest) that put them on Kafka."""
