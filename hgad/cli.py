"""The ``hgad`` command line: every stage of the workflow, usable without Snakemake.

    hgad demo-data resources/datasets/demo
    hgad manifest --layout mvtec --root resources/datasets/demo --dataset demo out/manifest.csv
    hgad extract --config config/demo.yaml out/manifest.csv train out/features/train
    hgad extract --config config/demo.yaml out/manifest.csv test out/features/test
    hgad train --config config/demo.yaml --seed 0 out/manifest.csv out/features/train out/seed0
    hgad evaluate --config config/demo.yaml out/manifest.csv out/features/test out/seed0
    hgad predict --model out/seed0/model.pt --images new_images/ --out out/predictions
    hgad check-config --config config/demo.yaml
    hgad check-sources --config config/config.yaml

``hgad COMMAND --help`` describes each command (docs/cli.md lists them). A mistake in the
arguments exits with code 2 and the usage; a missing or unusable file or setting exits with
code 1 and one line naming it."""

from __future__ import annotations

import argparse
import re
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

import yaml

from hgad.data.links import TIMEOUT_S
from hgad.runtime.config import (
    Settings,
    load_config,
    load_schema,
    schema_default,
    settings_from_config,
)

DISTRIBUTION = "hgad-bench"
DEFAULT_CONFIG = "config/config.yaml"


def _settings(path: str) -> Settings:
    return settings_from_config(load_config(path))


def _demo_data(args) -> None:
    from hgad.data.demo import generate_demo

    generate_demo(args.dest, seed=args.seed, image_size=args.image_size)


def _manifest(args) -> None:
    from hgad.data.manifest import write_manifest
    from hgad.data.sources import dataset_manifest

    spec = {"layout": args.layout, "categories": args.categories}
    frame, report = dataset_manifest(args.dataset, spec, args.root)
    print(report.to_string())
    write_manifest(frame, args.out)


def _extract(args) -> None:
    from hgad.features.extract import extract_features
    from hgad.runtime.device import resolve_device

    settings = _settings(args.config)
    extract_features(args.manifest, args.split, args.out, settings.features,
                     resolve_device(settings.device))


def _train(args) -> None:
    from hgad.runtime.device import resolve_device
    from hgad.training.train import train

    settings = _settings(args.config)
    if args.init is not None:
        settings = replace(settings, train=replace(settings.train, init=args.init))
    out = Path(args.out_dir)
    train(args.train_features, args.manifest, out / "model.pt", out / "train_log.csv",
          out / "checkpoints", settings, args.seed, resolve_device(settings.device))


def _evaluate(args) -> None:
    from hgad.evaluation.evaluate import evaluate
    from hgad.runtime.device import resolve_device

    settings = _settings(args.config)
    out = Path(args.out_dir)
    evaluate(out / "model.pt", args.manifest, args.test_features, out / "metrics.json",
             out / "metrics.csv", out / "maps", settings, resolve_device(settings.device),
             train_cache=args.train_features, validation_cache=args.validation_features)


def _predict(args) -> None:
    from hgad.prediction.predict import predict
    from hgad.runtime.device import resolve_device

    features = None if args.config is None else (_settings(args.config).features, args.config)
    table = predict(args.model, args.images, args.out, resolve_device(args.device),
                    category=args.category, threshold=args.threshold, fpr=args.fpr,
                    batch_size=args.batch_size, feature_settings=features)
    print(f"{args.out}/scores.csv: {len(table)} images, {int(table['anomalous'].sum())} "
          "anomalous")


def _import_checkpoint(args) -> None:
    from hgad.model.checkpoint_import import import_checkpoint

    if args.manifest is not None:
        from hgad.data.manifest import class_names, read_manifest

        names = class_names(read_manifest(args.manifest))
    else:
        names = args.classes
    model = import_checkpoint(args.src, args.dst, names, coupling_layers=args.coupling_layers,
                              clamp_alpha=args.clamp_alpha, pos_embed_dim=args.pos_embed_dim,
                              sort_classes=not args.keep_class_order)
    print(f"{args.dst}: {model.levels} levels, channels {model.hparams['channels']}, "
          f"{model.hparams['coupling_layers']} coupling layers, classes {model.class_names}")


def _readme(args) -> None:
    from hgad.reporting.readme import rewrite_readme

    changed = rewrite_readme(args.readme, Path(args.section).read_text(encoding="utf-8"))
    print(f"{args.readme}: results section {'updated' if changed else 'already up to date'}")


def _check_config(args) -> None:
    from hgad.reporting.run_summary import settings_summary
    from hgad.runtime.config import read_yaml

    summary = settings_summary(read_yaml(args.config) or {})
    print(f"{args.config}: valid\n{summary}")


def _check_sources(args) -> None:
    from hgad.data.links import check_sources, sources_table, unreachable_datasets

    probes = list(check_sources(load_config(args.config)["datasets"], args.timeout))
    print(sources_table(probes) if probes else f"{args.config}: no dataset has URLs")
    dead = unreachable_datasets(probes)
    if dead:
        raise RuntimeError(f"{args.config}: no reachable URL for {', '.join(dead)}; add a "
                           "working mirror to `urls`, or give an archive you hold (`archive:`)")


def _device_type(schema: dict):
    """An argparse type accepting the device names of the schema's ``device`` pattern."""
    entry = schema["properties"]["device"]

    def device(value: str) -> str:
        if not re.fullmatch(entry["pattern"], value):
            raise argparse.ArgumentTypeError(f"{value!r}: give {entry['description']}")
        return value
    return device


def _add_config(parser: argparse.ArgumentParser, **kwargs) -> None:
    parser.add_argument("--config", metavar="FILE", **kwargs)


def _export_mvtec_ad2(args) -> None:
    from hgad.export.mvtec_ad2 import export_mvtec_ad2
    from hgad.runtime.device import resolve_device

    thresholds = export_mvtec_ad2(args.model, args.root, args.out, resolve_device(args.device),
                                  batch_size=args.batch_size)
    for category, threshold in thresholds.items():
        print(f"{category}: binarised above {threshold!r} (the SegF1 rule on its validation maps)")
    print(f"{args.out}: maps of {len(thresholds)} categories, checked; upload it to MVTec's "
          "evaluation server")


def _check_mvtec_ad2_export(args) -> None:
    from hgad.export.mvtec_ad2 import check_mvtec_ad2_export

    count = check_mvtec_ad2_export(args.folder, args.root)
    print(f"{args.folder}: the maps of {count} private test images, in the server's format")


def build_parser() -> argparse.ArgumentParser:
    from hgad.data.layouts import LAYOUTS
    from hgad.data.manifest import SPLITS, VALIDATION

    schema = load_schema()
    parser = argparse.ArgumentParser(prog="hgad", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {version(DISTRIBUTION)}",
                        help=f"print the installed {DISTRIBUTION} version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo-data", help="generate the embedded demo dataset")
    demo.add_argument("dest", help="the folder to write the demo dataset into (MVTec AD layout)")
    demo.add_argument("--seed", type=int, default=schema_default("demo.seed"),
                      help="the generator's seed (default: %(default)s)")
    demo.add_argument("--image-size", type=int, default=schema_default("demo.image_size"),
                      help="image side in pixels (default: %(default)s)")
    demo.set_defaults(run=_demo_data)

    manifest = commands.add_parser("manifest", help="index a dataset folder into manifest.csv")
    manifest.add_argument("--layout", required=True, choices=sorted(LAYOUTS),
                          help="the dataset's folder layout (a union of datasets is built by "
                          "the workflow from its members' manifests)")
    manifest.add_argument("--root", required=True, help="the unpacked dataset folder")
    manifest.add_argument("--dataset", required=True,
                          help="the dataset's name (the manifest's dataset column)")
    manifest.add_argument("--categories", nargs="*", metavar="CATEGORY",
                          help="index only these categories (default: all found)")
    manifest.add_argument("out", help="the manifest file to write (CSV)")
    manifest.set_defaults(run=_manifest)

    extract = commands.add_parser("extract", help="extract one split's features into a cache")
    _add_config(extract, required=True, help="the configuration (its features and device)")
    extract.add_argument("manifest", help="the manifest of hgad manifest")
    extract.add_argument("split", choices=(*SPLITS, VALIDATION), help="which split's images")
    extract.add_argument("out", help="the feature-cache folder to write")
    extract.set_defaults(run=_extract)

    train = commands.add_parser("train", help="train (resumes from OUT_DIR/checkpoints)")
    _add_config(train, required=True, help="the configuration (its model, train and device)")
    train.add_argument("--seed", type=int, default=schema_default("seeds")[0],
                       help="the training seed (default: %(default)s)")
    train.add_argument("--init", help="warm start from this model file (overrides train.init)")
    train.add_argument("manifest", help="the manifest the features were extracted from")
    train.add_argument("train_features", help="the train split's feature cache of hgad extract")
    train.add_argument("out_dir", help="folder for model.pt, train_log.csv and checkpoints/")
    train.set_defaults(run=_train)

    evaluate = commands.add_parser("evaluate", help="score the test set, write metrics")
    _add_config(evaluate, required=True, help="the configuration (its evaluate and device)")
    evaluate.add_argument("--train-features", help="the train split's feature cache: needed "
                          "for evaluate.normalization: train_max")
    evaluate.add_argument("--validation-features", help="the validation split's feature cache: "
                          "adds SegF1 (its threshold from the validation images)")
    evaluate.add_argument("manifest", help="the manifest the features were extracted from")
    evaluate.add_argument("test_features", help="the test split's feature cache of hgad extract")
    evaluate.add_argument("out_dir", help="the folder of hgad train (model.pt); metrics.json, "
                          "metrics.csv and maps/ are written there")
    evaluate.set_defaults(run=_evaluate)

    pred = commands.add_parser("predict", help="score new images with a trained model")
    pred.add_argument("--model", required=True, help="a model file of hgad train (model.pt)")
    pred.add_argument("--images", required=True, help="a folder (searched recursively) or a "
                      "glob pattern (quoted)")
    pred.add_argument("--out", required=True, help="folder for scores.csv, maps/, overlays/")
    pred.add_argument("--category", help="score every image under this category (default: the "
                      "predicted one)")
    limit = pred.add_mutually_exclusive_group()
    limit.add_argument("--threshold", type=float, help="decision threshold on the image score")
    limit.add_argument("--fpr", type=float, default=0.01, help="threshold at this false-positive "
                       "rate on the category's training images (default: %(default)s)")
    pred.add_argument("--device", type=_device_type(schema), default=schema_default("device"),
                      help=f"{schema['properties']['device']['description']} (default: "
                      "%(default)s)")
    pred.add_argument("--batch-size", type=int, default=schema_default("features.batch_size"),
                      help="images per batch (default: features.batch_size, %(default)s)")
    _add_config(pred, help="refuse the model if its feature settings differ from this "
                "configuration's")
    pred.set_defaults(run=_predict)

    imp = commands.add_parser(
        "import-checkpoint", help="convert a checkpoint of the authors' code into a model file")
    imp.add_argument("src", help="the reference code's .pt file (nfs, mus, mu_deltas, ...)")
    imp.add_argument("dst", help="the model file to write (as hgad train's model.pt)")
    names = imp.add_mutually_exclusive_group(required=True)
    names.add_argument("--classes", nargs="+",
                       help="class names in the reference code's class-index order")
    names.add_argument("--manifest", help="take the class names (sorted) from this manifest")
    imp.add_argument("--coupling-layers", type=int, help="checked against the file (default: "
                     "as found)")
    imp.add_argument("--pos-embed-dim", type=int, default=schema_default("model.pos_embed_dim"),
                     help="the positional embedding's size (default: %(default)s)")
    imp.add_argument("--clamp-alpha", type=float, default=schema_default("model.clamp_alpha"),
                     help="the coupling layers' soft clamp (default: %(default)s)")
    imp.add_argument("--keep-class-order", action="store_true",
                     help="store the classes in the given order, not sorted")
    imp.set_defaults(run=_import_checkpoint)

    readme = commands.add_parser("readme", help="rewrite a README's results section")
    readme.add_argument("--section", required=True,
                        help="the generated section (results/README_results.md)")
    readme.add_argument("readme", help="the README to rewrite between its results markers")
    readme.set_defaults(run=_readme)

    check = commands.add_parser("check-config", help="validate a configuration file")
    _add_config(check, required=True, help="the configuration to validate")
    check.set_defaults(run=_check_config)

    sources = commands.add_parser(
        "check-sources", help="check each dataset URL's reachability and size (no download)")
    _add_config(sources, default=DEFAULT_CONFIG,
                help="the configuration whose datasets to probe (default: %(default)s)")
    sources.add_argument("--timeout", type=float, default=TIMEOUT_S,
                         help="seconds to wait for each host (default: %(default)s)")
    sources.set_defaults(run=_check_sources)

    export = commands.add_parser(
        "export-mvtec-ad2", help="write and check the MVTec AD 2 private test maps for MVTec's "
        "evaluation server")
    for flag, metavar, text in (
            ("--model", "FILE", "a model file trained on MVTec AD 2 with features.resize: whole"),
            ("--root", "DIR", "the MVTec AD 2 folder (with test_private/, test_private_mixed/)"),
            ("--out", "DIR", "the folder to upload (anomaly_images/, anomaly_images_thresholded/);"
             " replaced if it exists")):
        export.add_argument(flag, required=True, metavar=metavar, help=text)
    export.add_argument("--device", type=_device_type(schema), default=schema_default("device"),
                        help=f"{schema['properties']['device']['description']} (default: "
                        "%(default)s)")
    export.add_argument("--batch-size", type=int, default=schema_default("evaluate.batch_size"),
                        metavar="N", help="images per scoring batch (default: evaluate.batch_size, "
                        "%(default)s)")
    export.set_defaults(run=_export_mvtec_ad2)

    check_export = commands.add_parser(
        "check-mvtec-ad2-export", help="check an MVTec AD 2 export's structure, names, dtypes and "
        "sizes against the dataset")
    check_export.add_argument("--root", required=True, metavar="DIR",
                              help="the MVTec AD 2 folder the maps were made from")
    check_export.add_argument("folder", help="the export (as written by export-mvtec-ad2)")
    check_export.set_defaults(run=_check_mvtec_ad2_export)
    return parser


def error_line(error: BaseException) -> str:
    """A user's mistake as one line naming the file: an OS error by its file name, a YAML
    syntax error by its file and line."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.filename}: {error.strerror or error}"
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{mark.name}:{mark.line + 1}: not valid YAML: {error.problem}"
    return str(error)


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        args.run(args)
    except (ValueError, OSError, RuntimeError, yaml.YAMLError) as error:
        raise SystemExit(f"hgad {args.command}: error: {error_line(error)}") from error


if __name__ == "__main__":
    main()
