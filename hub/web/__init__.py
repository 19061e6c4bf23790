"""The web layer: the HTTP API (app, context, routes/), authentication (auth, sessions), and the console pages and
live feed (console, i18n, templates/, static/).

Lower layers never import from here; the hub's composition root (hub.app) builds the API with `create_api`.
"""
