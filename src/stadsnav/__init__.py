"""Stadsnav: an open integration and API platform for municipalities."""

__version__ = "0.1.0"
