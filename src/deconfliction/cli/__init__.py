"""The `deconfliction` command: server, operator and client commands."""
