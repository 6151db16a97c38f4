"""parloir's REST server (FastAPI): thin routes over the library."""
