"""deconfliction: the service, CLI and console of a deconfliction mechanism."""

__version__ = "0.1.0"
