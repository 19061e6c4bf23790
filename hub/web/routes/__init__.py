"""Route groups of the HTTP API that live apart from the core routes."""
