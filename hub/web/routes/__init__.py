"""The HTTP API's routes, one module per subject, each with the request models its routes take.

hub.web.app mounts them, except the camera routes, which hub.app adds because it owns the camera checker.
"""
