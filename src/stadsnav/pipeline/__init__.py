"""Inbox, batch runner and dead letters: every accepted message is stored or dead-lettered."""
