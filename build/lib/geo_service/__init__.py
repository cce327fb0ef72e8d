"""The grid-governance GIS service.

The rooms, each a module or package named after its job (see the README's architecture):
`app` (the one app factory), `settings`, `errors`, `store` (engine, unit of work, tables,
migrations), `events` and `outbox`, `audit`, `versions` (drafts, publishing, reading, the
import core), `index` (the grid index and the per-process cache), `lookup`, `scope`,
`privacy`, `auth`, `households`, `cli`, `web`, `jobs`. Importing a domain module never
imports Flask: only `app`, `web` and `serving` do.
"""
