"""Shared test helpers, one module per part of modelport (imported as helpers.NAME)."""
