"""Thin click commands; the work lives in the subpackages."""
