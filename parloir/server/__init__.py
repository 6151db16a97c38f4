"""``parloir serve``: the REST API over the library (FastAPI).

``create_app(store)`` builds the application; the root store lives at ``app.state.store`` and
every request acts through ``store.for_tenant(principal.tenant_id)``.
"""
