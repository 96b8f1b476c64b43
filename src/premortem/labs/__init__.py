"""Labs: small real systems that premortem has never seen, broken on purpose, to test it with.

`inventory` is an order-taking API over SQLite with row locks, a downstream `supplier` process and
a memory-bounded cache; `runner` drives suites of test runs against it back to back (live to a
premortem server, or recorded to a directory). See docs/labs.md.
"""
