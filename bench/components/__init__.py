"""Pluggable training components, one registry per kind."""
