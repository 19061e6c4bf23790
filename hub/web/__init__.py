"""The web layer: the HTTP API, authentication, console sessions and pages."""
