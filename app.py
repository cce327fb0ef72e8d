"""WSGI entry: `flask --app app run` (development), or gunicorn in production.

Production: `geo-service migrate` once, then `geo-service serve` (gunicorn, one worker
per core; the master builds each boundary version's index once and rolls the workers onto
it). If you run gunicorn yourself, migrate first (the app refuses an unmigrated store
rather than letting every worker migrate at once) and preload, so that the index built
here is shared by the workers:

    geo-service migrate && gunicorn --preload -w 2 --threads 256 \
        -k geo_service.serving.LaneWorker app:app

The lane worker answers short requests on its own thread and gives event streams,
long-running views and slow clients a lane thread each (README "Serving model"); under
gunicorn's sync worker the first stream would pin a whole worker. `geo-service serve` also
caps the streams per worker so that lane threads for long requests remain, and ends
streams at once when a worker stops; a gunicorn of your own does neither.

Each worker then follows new versions by itself, building the new index in a background
thread while it answers from the old one.
"""

from geo_service.app import create_app
from geo_service.serving import preload

app = preload(create_app())
