"""The web tier's routes, one module an area; :func:`webapp.app.create_app` includes each router."""
