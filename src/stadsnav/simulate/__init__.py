"""Realistic vendor simulators for the demo and the tests."""
