"""The sections of docs/benchmarks.md that the separate benchmarks own.

``python -m bench`` rewrites the file's main part; the analytics, search, import and server
benchmarks each own one section, between markers, which a full run of that benchmark
replaces and every other run keeps. Each section says when and on which commit it ran.
"""

from __future__ import annotations

import re
from pathlib import Path

from bench import env

MD_PATH = env.ROOT / "docs" / "benchmarks.md"
ORDER = ("analytics", "search", "importing", "serve_load")


def _begin(name: str) -> str:
    return f"<!-- section: {name} -->"


def _end(name: str) -> str:
    return f"<!-- /section: {name} -->"


def _blocks(text: str) -> dict[str, str]:
    pattern = re.compile(r"<!-- section: (\w+) -->\n.*?<!-- /section: \1 -->\n", re.DOTALL)
    return {match.group(1): match.group(0) for match in pattern.finditer(text)}


def kept(path: Path = MD_PATH) -> str:
    """The owned sections of the current file, in their order (for the main report)."""
    blocks = _blocks(path.read_text()) if path.exists() else {}
    return "".join("\n" + blocks[name] for name in ORDER if name in blocks)


def record(name: str, markdown: str, *, quick: bool, path: Path = MD_PATH) -> bool:
    """Put ``markdown`` in the file as section ``name``, unless the run was a quick one.

    Returns whether the file was changed.
    """
    if quick:
        print(f"(quick run: the {name} section of {path.name} is left as it was)")
        return False
    stamp = (
        f"Run: {env.now_utc()}, parloir {env.parloir_version()}, {env.machine()['cores']} cores."
    )
    block = f"{_begin(name)}\n{markdown.rstrip()}\n\n{stamp}\n{_end(name)}\n"
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    blocks = _blocks(text)
    if name in blocks:
        text = text.replace(blocks[name], block)
    else:
        text = text.rstrip("\n") + "\n\n" + block
    path.write_text(text)
    print(f"section {name} written to {path}")
    return True
