"""Typed settings built from the validated configuration.

The YAML configuration is validated against ``hgad/resources/config.schema.yaml`` before
anything runs. Missing keys are filled from its ``preset`` (``hgad/resources/preset_<name>.yaml``:
``paper`` is empty, the schema's defaults being the paper's settings), then from the schema's
defaults. These dataclasses give the package typed access to the result.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, fields
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit

import yaml

RESOURCES = Path(__file__).resolve().parents[1] / "resources"
SCHEMA_PATH = RESOURCES / "config.schema.yaml"


@dataclass(frozen=True)
class FeatureSettings:
    backbone: str
    weights: str
    out_index: int
    levels: int
    img_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    batch_size: int
    num_workers: int
    resize: str
    precision: str


@dataclass(frozen=True)
class ModelSettings:
    coupling_layers: int
    clamp_alpha: float
    pos_embed_dim: int
    n_intra_centers: int


@dataclass(frozen=True)
class TrainSettings:
    meta_epochs: int
    sub_epochs: int
    batch_size: int
    lr: float
    lr_decay_rate: float
    lr_warm_epochs: int
    betas: tuple[float, float]
    weight_decay: float
    lambda1: float
    lambda2: float
    label_smoothing: float
    intra_start_epoch: int
    snapshot_every: int
    score_every_sub_epoch: bool
    precision: str
    allow_tf32: bool
    resident_fraction: float
    compile: bool | str  # true, false or "auto"
    init: str | None


@dataclass(frozen=True)
class EvalSettings:
    msk_size: int
    normalization: str
    gaussian_sigma: float
    batch_size: int
    precision: str
    class_conditioning: tuple[str, ...]
    aupro_limits: tuple[float, ...]


@dataclass(frozen=True)
class KnnSettings:
    coreset_fraction: float


@dataclass(frozen=True)
class Settings:
    features: FeatureSettings
    model: ModelSettings
    train: TrainSettings
    evaluate: EvalSettings
    knn: KnnSettings
    device: str


def _section(cls, values: dict[str, Any]):
    return cls(**{f.name: tuple(values[f.name]) if isinstance(values[f.name], list)
                  else values[f.name] for f in fields(cls)})


def settings_from_config(config: dict[str, Any]) -> Settings:
    """Typed settings from a configuration mapping, validated (and defaults filled) on a copy."""
    config = copy.deepcopy(config)
    config.setdefault("datasets", {"_": {"layout": "folder", "root": "."}})
    validate_config(config)
    return Settings(
        features=_section(FeatureSettings, config["features"]),
        model=_section(ModelSettings, config["model"]),
        train=_section(TrainSettings, config["train"]),
        evaluate=_section(EvalSettings, config["evaluate"]),
        knn=_section(KnnSettings, config["knn"]),
        device=config["device"],
    )


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a YAML config and validate it against the schema (defaults filled in)."""
    config = read_yaml(path) or {}
    validate_config(config)
    return config


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        first_lines: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            line = key_node.start_mark.line + 1
            if key in first_lines:
                raise ValueError(f"{key_node.start_mark.name}:{line}: key {key!r} given twice "
                                 f"(first at line {first_lines[key]})")
            first_lines[key] = line
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> Any:
    """The YAML document in ``path``, refusing duplicated keys (``ValueError`` naming the file,
    the line and the key)."""
    with open(path, encoding="utf-8") as handle:
        return yaml.load(handle, Loader=_StrictLoader)


def typed_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """Snakemake's ``--config`` overrides with each text inside a list or mapping read as YAML.

    Snakemake types a top-level value (``seeds=3``) but reads a list or mapping with YAML's
    base loader, every value inside as text (``seeds=[0,1]`` gives ``["0", "1"]``).
    """
    def typed(value: Any) -> Any:
        if isinstance(value, dict):
            return {key: typed(item) for key, item in value.items()}
        if isinstance(value, list):
            return [typed(item) for item in value]
        return yaml.safe_load(value) if isinstance(value, str) else value

    return {key: typed(value) if isinstance(value, (dict, list)) else value
            for key, value in overrides.items()}


@functools.cache
def _schema() -> dict[str, Any]:
    """The schema as read, once per process (the CLI's parser asks for a dozen defaults, and
    parsing the file with PyYAML's pure-Python loader takes tens of milliseconds); never
    changed: callers get copies."""
    return read_yaml(SCHEMA_PATH)


def load_schema() -> dict[str, Any]:
    """The configuration schema (hgad/resources/config.schema.yaml), read strictly: a copy the
    caller may change."""
    return copy.deepcopy(_schema())


def schema_default(dotted_key: str) -> Any:
    """The schema's default of a key such as ``"evaluate.batch_size"``, or of a dataset's key with
    ``<name>`` for the dataset's name (``"datasets.<name>.realiad.images"``); ``KeyError`` if
    none."""
    node = _schema()
    for part in dotted_key.split("."):
        node = node["additionalProperties"] if part == "<name>" else node["properties"][part]
    return copy.deepcopy(node["default"])


def preset_path(name: str) -> Path:
    """The file holding the values of preset ``name`` (a value of the schema's ``preset``)."""
    return RESOURCES / f"preset_{name}.yaml"


def preset_values(name: str) -> dict[str, Any]:
    """The settings preset ``name`` gives (sections features, model, ...; ``{}`` for paper)."""
    return read_yaml(preset_path(name)) or {}


def _fill_missing(config: dict[str, Any], values: dict[str, Any]) -> None:
    """Copy into ``config`` each key of ``values`` it lacks, recursing into mappings."""
    for key, value in values.items():
        if key not in config:
            config[key] = copy.deepcopy(value)
        elif isinstance(config[key], dict) and isinstance(value, dict):
            _fill_missing(config[key], value)


def validate_config(config: dict[str, Any]) -> None:
    """Validate ``config`` in place against the schema, filling its preset's values, then the
    schema's defaults, into the keys it lacks.

    Raises ``ValueError`` naming the offending key, e.g. ``train.lr: 'x' is not of type 'number'``
    or ``train: unknown key 'lr_typo'``.
    """
    import jsonschema

    if not isinstance(config, dict):
        raise ValueError("invalid configuration: it must be a mapping of keys to values, "
                         f"not a {type(config).__name__}")
    schema = load_schema()
    preset = config.get("preset", schema["properties"]["preset"]["default"])
    if preset in schema["properties"]["preset"]["enum"]:
        _fill_missing(config, preset_values(preset))
    validator_cls = _defaults_filling(jsonschema.Draft202012Validator)
    errors = sorted(validator_cls(schema).iter_errors(config), key=lambda e: list(e.path))
    problems = [_describe(e) for e in errors] or _dataset_problems(config["datasets"])
    if problems:
        raise ValueError("invalid configuration:\n" + "\n".join(problems))


def _dataset_problems(datasets: dict[str, dict]) -> list[str]:
    """Each dataset needs exactly one source: generate, root, archive or url(s) (+ a checksum)."""
    problems = []
    for name, spec in datasets.items():
        where = f"  datasets.{name}"
        if spec["layout"] == "union":
            unknown = [m for m in spec.get("members", []) if m not in datasets or m == name]
            if "members" not in spec:
                problems.append(f"{where}: a union needs 'members'")
            elif unknown:
                problems.append(f"{where}.members: not datasets of this config: {unknown}")
            continue
        if "realiad" in spec and spec["layout"] != "realiad":
            problems.append(f"{where}.realiad: only for the realiad layout")
        if spec["layout"] == "realiad" and "root" not in spec:
            problems.append(f"{where}: Real-IAD's download is gated (docs/datasets.md, "
                            "\"Real-IAD\"): give the folder you hold as root:")
            continue
        download = [key for key in ("url", "urls") if key in spec]
        if len(download) == 2:
            problems.append(f"{where}: give 'url' (one URL) or 'urls' (a list), not both")
            continue
        sources = [key for key in ("generate", "root", "archive") if key in spec] + download
        if len(sources) > 1 and sources != ["archive", *download]:
            problems.append(f"{where}: give one of generate, root, archive or url(s), "
                            f"not {sources}")
        elif not sources:
            problems.append(f"{where}: no source: give generate, root, archive or url(s)")
        elif sources[0] in ("archive", *download) and ("sha256" in spec) == ("md5" in spec):
            problems.append(f"{where}: an archive needs exactly one checksum (sha256 or md5)")
        elif sources[0] in download and not archive_name(source_urls(spec)[0]):
            problems.append(f"{where}: the URL {source_urls(spec)[0]} ends in no file name")
    return problems


def source_urls(spec: dict) -> list[str]:
    """A dataset's download URLs in the order they are tried: its ``urls``, or its one ``url``."""
    return list(spec.get("urls", [spec["url"]] if "url" in spec else []))


def archive_name(url: str) -> str:
    """The file name a URL's path ends with (decoded, no query string); empty if it ends in /."""
    path = urlsplit(url).path
    return "" if path.endswith("/") else unquote(PurePosixPath(path).name)


def _describe(error) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    if error.validator == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        return f"  {where}: unknown key(s) {', '.join(repr(k) for k in extra)}"
    return f"  {where}: {error.message}"


def _defaults_filling(validator_cls):
    """A validator class that also writes each property's ``default`` into the instance."""
    import jsonschema

    validate_properties = validator_cls.VALIDATORS["properties"]

    def properties(validator, props, instance, schema):
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub:
                    instance.setdefault(name, sub["default"])
        yield from validate_properties(validator, props, instance, schema)

    return jsonschema.validators.extend(validator_cls, {"properties": properties})
