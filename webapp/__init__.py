"""The IRS web tier: pages and the REST API (FastAPI), see webapp.app."""
