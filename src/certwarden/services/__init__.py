"""Use cases: imports, monitor runs, revocation checks. Built from core + adapters."""
