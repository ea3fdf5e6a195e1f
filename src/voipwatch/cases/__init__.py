"""Documented cases: importers for known blocks (OONI incidents, Access Now STOP,
CenAlert), the case registry that joins them with detected events, and the legal and
policy context of each country."""
