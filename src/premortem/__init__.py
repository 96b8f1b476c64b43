"""premortem: predict failure modes before they show up in the logs."""

__version__ = "0.1.0"
