"""The HTTP service: the FastAPI app (`app.create_app`), the API routes and the pages (`ui/`).

A route or a page parses the request, calls a repository or a stage of the `Runtime` and renders
the answer. It holds no SQL: nothing here imports `sqlalchemy` or the store's tables. The library
never imports `service/` (only `commands/` and the demo start it).
"""
