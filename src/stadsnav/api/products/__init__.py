"""REST data products declared in the workspace."""
