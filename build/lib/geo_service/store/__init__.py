"""The store: the engine and migrations (`engine`), the unit of work (`uow`), the tables
(`tables`, with the geometry column type of `geometry`), and the event outbox (`outbox`).
SQLite is the embedded default; PostgreSQL + PostGIS the production store."""
