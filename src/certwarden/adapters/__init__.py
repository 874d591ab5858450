"""Adapters: one module per outside system. Library exceptions stop here."""
