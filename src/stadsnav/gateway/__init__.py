"""Who may see what: API keys, scopes, and the checks every API request goes through."""
