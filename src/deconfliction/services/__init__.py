"""Use cases: one transaction each, keyword-only arguments, views shaped by disclosure."""
