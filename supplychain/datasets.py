"""Synthetic survey data."""
