"""Interfaces: the CLI, the REST API and the web UI. They call services, nothing lower."""
