"""The context store: latest entity state, attribute history, the inbox and dead letters."""
