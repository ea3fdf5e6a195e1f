"""The dashboard and the JSON API (FastAPI): pages, charts, static assets.

:func:`voipwatch.web.app.create_app` builds the application over a store; ``voipwatch
serve`` runs it. Read-only unless the operator gives a token for case annotations.
"""
