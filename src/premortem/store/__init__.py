"""Persistence: the SQL repositories (SQLite or PostgreSQL), their tables and the migrations.

Every SQL statement of premortem lives here; routes, pages and stages call a repository. The store
imports only the core (`domain`, `ports`, `counts`, `errors`, `clock`) and the records it keeps
(`alerting.model`, `scheduler`); never `logs/`, `learn/`, `sim/`, `service/` or `commands/`.
"""
