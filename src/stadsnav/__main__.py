"""``python -m stadsnav`` runs the command line."""

from stadsnav.cli import main

main()
