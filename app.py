"""WSGI entry: `gunicorn app:app` or `flask --app app run`."""

from geo_service import create_app

app = create_app()
