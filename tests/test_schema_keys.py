"""Every key of the configuration schema is read by the code and documented in config/README.md."""

from __future__ import annotations

import dataclasses
import inspect
import re
import typing
from pathlib import Path

import pytest

from hgad.data.demo import generate_demo
from hgad.data.realiad import realiad_manifest
from hgad.runtime.config import Settings, load_schema

REPO = Path(__file__).resolve().parent.parent
CODE = sorted([*(REPO / "hgad").rglob("*.py"), *(REPO / "workflow").rglob("*.py"),
               *(REPO / "workflow").rglob("*.smk"), REPO / "Snakefile"])
# The name a dataset entry stands under, in dotted keys.
ANY_NAME = "<name>"


def schema_keys(node: dict, prefix: str = "") -> list[str]:
    """Dotted paths of the schema's leaf keys (``datasets.<name>.layout``, ``train.lr``, ...)."""
    keys = []
    for name, sub in node.get("properties", {}).items():
        keys += schema_keys(sub, f"{prefix}{name}.") if _is_section(sub) else [prefix + name]
    if isinstance(node.get("additionalProperties"), dict):
        keys += schema_keys(node["additionalProperties"], f"{prefix}{ANY_NAME}.")
    return keys


def _is_section(node: dict) -> bool:
    return "properties" in node or isinstance(node.get("additionalProperties"), dict)


KEYS = schema_keys(load_schema())
# Sections read whole into typed settings, and the demo section and a Real-IAD dataset's options
# given to a function as keyword arguments: their keys are those of the dataclass or function.
TYPED = {section: {field.name for field in dataclasses.fields(kind)}
         for section, kind in typing.get_type_hints(Settings).items()
         if dataclasses.is_dataclass(kind)}
TYPED["demo"] = set(inspect.signature(generate_demo).parameters) - {"dest"}
TYPED[f"datasets.{ANY_NAME}.realiad"] = (set(inspect.signature(realiad_manifest).parameters)
                                        - {"root", "dataset", "categories"})


def _typed(key: str) -> bool:
    return any(key.startswith(section + ".") for section in TYPED)


def _read_as_literal(key: str, source: str) -> bool:
    """Whether ``source`` reads ``key`` by name: ``x["key"]``, ``x.get("key"``, ``"key" in x``,
    or ``for k in (..., "key", ...)``."""
    quoted = rf"""["']{re.escape(key)}["']"""
    patterns = [rf"\[\s*{quoted}\s*\]", rf"\.get\(\s*{quoted}", rf"{quoted}\s+(not\s+)?in\b",
                rf"\bfor\s+\w+\s+in\s+[(\[][^)\]]*{quoted}"]
    return any(re.search(pattern, source) for pattern in patterns)


def test_the_walk_covers_every_kind_of_key():
    assert {"preset", "seeds", "baselines", "datasets.<name>.sha256", "demo.n_train",
            "train.precision", "knn.coreset_fraction"} <= set(KEYS)


def test_typed_sections_are_exactly_the_schema_sections():
    assert set(TYPED) == {"features", "model", "train", "evaluate", "knn", "demo",
                          f"datasets.{ANY_NAME}.realiad"}
    for section, names in TYPED.items():
        in_schema = {key[len(section) + 1:] for key in KEYS if key.startswith(section + ".")}
        assert in_schema == names, (section, in_schema ^ names)


@pytest.mark.parametrize("key", [key for key in KEYS if not _typed(key)])
def test_every_other_key_is_read_by_name(key):
    source = "\n".join(path.read_text(encoding="utf-8") for path in CODE)
    assert _read_as_literal(key.rsplit(".", 1)[-1], source), f"nothing reads {key}"


def test_every_key_is_documented_in_config_readme():
    text = (REPO / "config/README.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1] for line in text.splitlines() if line.startswith("| `")]
    documented = {key for row in rows for key in re.findall(r"`([^`]+)`", row)}
    assert not set(KEYS) - documented, f"not in config/README.md: {set(KEYS) - documented}"
    parts = [key.split(".") for key in KEYS]
    sections = {".".join(part[:end]) for part in parts for end in range(1, len(part))}
    unknown = documented - set(KEYS) - sections
    assert not unknown, f"not in the schema: {unknown}"
