"""The web layer: the HTTP API (app, context, routes/), authentication (auth, sessions), the console pages (console,
i18n, templates/, static/) and the live feed they listen to (stream).

Lower layers never import from here; the hub's composition root (hub.app) builds the API with `create_api`.
"""
