"""The boundary editor's domain (issue #12), without Flask: drafts as a planner's work
(`drafts`), what a draft holds per area (`states`), one edit read from JSON (`ops`) and
made (`apply`, with `boundaries.edit` computing shapes), the edit log for undo and redo
(`log`), validation around a change (`problems`), and files out and in (`files`)."""
