"""Database layer: portable types, ORM models, engines, migrations and error translation."""
