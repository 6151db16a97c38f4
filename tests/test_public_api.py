import ast
from pathlib import Path

import parloir

PACKAGE = Path(parloir.__file__).parent
EDGE_ONLY = {"typer", "rich", "fastapi", "starlette", "httpx", "langchain", "openai", "uvicorn"}


def test_all_is_sorted_and_complete():
    assert parloir.__all__ == sorted(parloir.__all__)
    for name in parloir.__all__:
        assert hasattr(parloir, name), name


def test_every_public_name_is_documented():
    for name in parloir.__all__:
        obj = getattr(parloir, name)
        if callable(obj):
            assert obj.__doc__, name


def test_core_modules_do_not_import_edge_libraries():
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("cli", "server", "integrations"):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in EDGE_ONLY, f"{relative} imports {name}"


def test_store_methods_are_documented_and_return_records_not_orm_objects():
    from parloir.db.models import Base

    orm_classes = {mapper.class_ for mapper in Base.registry.mappers}
    for name in dir(parloir.Store):
        if name.startswith("_"):
            continue
        attribute = getattr(parloir.Store, name)
        if callable(attribute):
            annotations = getattr(attribute, "__annotations__", {})
            returned = str(annotations.get("return", ""))
            assert not any(cls.__name__ == returned for cls in orm_classes), name
