"""``python -m parloir`` runs the command line."""

from parloir.cli import main

main()
