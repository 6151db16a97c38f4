"""Row-level security on PostgreSQL: the two roles, and the policies of a tenant table.

Every tenant table gets ``ENABLE`` and ``FORCE ROW LEVEL SECURITY`` (FORCE: the owner is bound
too; only superusers and ``BYPASSRLS`` roles are not) and two policies:

- ``tenant_isolation``, for every role: a row is visible, and may be written, only if its
  tenant is the one the transaction set with ``set_config('parloir.tenant_id', ..., true)``.
  With no tenant set the setting reads as NULL or ``''`` (after an earlier local setting
  ended), hence the ``NULLIF``: nothing matches, nothing is written.
- ``admin_all``, for ``parloir_admin`` only: every row, for the few cross-tenant operations.

The store acts as ``parloir_app`` (NOLOGIN, NOBYPASSRLS, owning nothing, DML grants only) for
tenant work and as ``parloir_admin`` for cross-tenant work. The roles are cluster-wide: they are
created only when missing (several databases of one cluster share them) and a downgrade leaves
them in place. Migrations call these functions; SQLite has no row-level security and they are
PostgreSQL-only.
"""

from __future__ import annotations

from parloir.db.engine import ADMIN_ROLE, APP_ROLE, TENANT_SETTING

__all__ = [
    "ADMIN_ROLE",
    "APP_ROLE",
    "CURRENT_TENANT",
    "create_roles",
    "protect_table",
    "revoke_schema",
    "unprotect_table",
]

CURRENT_TENANT = f"(SELECT NULLIF(current_setting('{TENANT_SETTING}', true), '')::uuid)"
"""The transaction's tenant, or NULL; a sub-select so that it is evaluated once per query."""

DML = "SELECT, INSERT, UPDATE, DELETE"


def _create_role(role: str) -> str:
    # A concurrent migration of another database may create it between the check and the
    # CREATE: that error means the role is there, which is all this wants.
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        BEGIN
            CREATE ROLE {role} NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END;
    END IF;
    IF NOT pg_has_role(current_user, '{role}', 'MEMBER') THEN
        EXECUTE format('GRANT {role} TO %I', current_user);
    END IF;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO {role}', current_schema());
END
$$"""


def create_roles() -> list[str]:
    """Create the roles if missing; let the migrating user act as them; grant the schema."""
    return [_create_role(APP_ROLE), _create_role(ADMIN_ROLE)]


def revoke_schema() -> list[str]:
    """Undo :func:`create_roles` in this database (the roles themselves stay)."""
    return [
        f"""
DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM {APP_ROLE}, {ADMIN_ROLE}', current_schema());
END
$$"""
    ]


def protect_table(table: str, *, column: str = "tenant_id", app_privileges: str = DML) -> list[str]:
    """Enable and force row-level security on ``table``, with the two policies and grants."""
    rule = f"{column} = {CURRENT_TENANT}"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({rule}) WITH CHECK ({rule})",
        f"CREATE POLICY admin_all ON {table} TO {ADMIN_ROLE} USING (true) WITH CHECK (true)",
        f"GRANT {app_privileges} ON {table} TO {APP_ROLE}",
        f"GRANT {DML} ON {table} TO {ADMIN_ROLE}",
    ]


def unprotect_table(table: str) -> list[str]:
    """Undo :func:`protect_table`."""
    return [
        f"REVOKE ALL ON {table} FROM {APP_ROLE}, {ADMIN_ROLE}",
        f"DROP POLICY IF EXISTS admin_all ON {table}",
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]
