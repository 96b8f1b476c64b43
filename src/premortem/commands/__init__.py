"""The CLI's subcommands, one module each, registered by name in `premortem.cli`.

A command reads its arguments, calls the library (`runtime`, `learn`, `sim`, `service`, …) and
prints the result; it imports the library inside the command so that `premortem --help` stays
fast. Nothing in the library imports `commands/`.
"""
