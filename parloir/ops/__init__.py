"""Operating a parloir database: health checks, backups and restores.

Each operation is a plain function over engines or settings, so the CLI and the server stay thin.
"""
