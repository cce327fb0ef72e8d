"""Work off the request path: the background runner that builds indexes and reloads the
roster (`background`); later the SLA sweep and outbox pruning."""
