"""The ``chori`` command: export, golden and demo.

User errors (:class:`~chori_torch.errors.ChoriError`, and ``OSError`` for files that cannot be
read or written) print ``chori: error: <message>`` and exit with status 2, like argparse's own
usage errors; ``-v`` adds DEBUG logs and the cause's traceback. Anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from . import fastai_learner
from ._version import __version__
from .demo import run_demo
from .errors import ChoriError
from .export import export_artifact, load_model
from .golden import write_embedded_golden, write_golden
from .metadata import (
    INTERPOLATIONS,
    OUTPUT_KINDS,
    PAD_MODES,
    RESIZE_METHODS,
    FastaiResize,
    InputSpec,
)
from .optimize import CHOICES, PRECISIONS
from .pt2 import FORMATS

log = logging.getLogger("chori_torch")

DEFAULT_INPUT = InputSpec()
EXIT_USER_ERROR = 2


# -- argument types: text to values; InputSpec validates the combination ----------------------


def _ints(text: str, what: str) -> tuple[int, ...]:
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
    if len(values) > 2 or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
    return values


def resize_arg(text: str) -> tuple[int, ...] | None:
    """``S`` (shorter side), ``H,W`` (exact size) or ``none``."""
    return None if text.lower() == "none" else _ints(text, "S, H,W or none")


def crop_arg(text: str) -> tuple[int, ...] | None:
    """``N`` (square), ``H,W`` or ``none``."""
    if text.lower() == "none":
        return None
    values = _ints(text, "N, H,W or none")
    return values * 2 if len(values) == 1 else values


def max_size_arg(text: str) -> int | None:
    return None if text.lower() == "none" else _ints(text, "a positive integer or none")[0]


def positive_int_arg(text: str) -> int:
    value = _ints(text, "a positive integer")
    if len(value) != 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value[0]


def floats3_arg(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise argparse.ArgumentTypeError(f"expected three comma-separated numbers, got {text!r}")
    return values


def _show(value: object) -> str:
    if value is None:
        return "none"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)


def read_labels(labels: str | None, labels_file: Path | None) -> list[str]:
    """Labels from ``--labels a,b`` or one per line of ``--labels-file`` (blank lines skipped)."""
    if labels_file is not None:
        try:
            lines = labels_file.read_text(encoding="utf-8-sig").splitlines()
        except OSError as e:
            raise ChoriError(f"--labels-file: cannot read {labels_file}: {e.strerror}") from e
        return [line.strip() for line in lines if line.strip()]
    assert labels is not None
    parts = [part.strip() for part in labels.split(",")]
    if not all(parts):
        raise ChoriError(f"--labels {labels!r} has an empty label; separate labels with commas")
    return parts


# -- subcommands ---------------------------------------------------------------------------------


# Preprocessing flags whose default is argparse.SUPPRESS: absent from the namespace unless given.
_PREP = ("resize", "max_size", "crop", "interpolation", "mean", "std")


def _input_spec(args: argparse.Namespace) -> InputSpec:
    """The spec the preprocessing flags describe: torchvision's, or fastai's Resize for a
    ``--fastai-arch`` checkpoint."""
    given = {k: getattr(args, k) for k in _PREP if hasattr(args, k)}
    common = {
        "interpolation": given.get("interpolation", DEFAULT_INPUT.interpolation),
        "mean": given.get("mean", DEFAULT_INPUT.mean),
        "std": given.get("std", DEFAULT_INPUT.std),
        "exif_orientation": args.exif_orientation,
    }
    if args.fastai_arch is None:
        if args.resize_method is not None or args.pad_mode is not None:
            raise ChoriError(
                "--resize-method and --pad-mode are fastai's: use them with --fastai-arch"
            )
        return InputSpec(
            resize=given.get("resize", DEFAULT_INPUT.resize),
            max_size=given.get("max_size", DEFAULT_INPUT.max_size),
            crop=given.get("crop", DEFAULT_INPUT.crop),
            **common,
        )
    if "crop" in given or "max_size" in given:
        raise ChoriError(
            "--crop and --max-size are torchvision's; fastai's Resize crops by itself "
            "(--resize-method crop, its default)"
        )
    size = given.get("resize")
    if size is None:
        raise ChoriError("--fastai-arch needs --resize S or H,W: the size of fastai's Resize")
    return InputSpec(
        resize=None,
        crop=None,
        fastai_resize=FastaiResize(
            size=(size[0], size[-1]),
            method=args.resize_method or "crop",
            pad_mode=args.pad_mode or "reflection",
        ),
        **common,
    )


def _export(args: argparse.Namespace) -> int:
    if args.fastai is not None:
        extra = [f"--{k.replace('_', '-')}" for k in _PREP if hasattr(args, k)]
        named = {
            "--labels": args.labels,
            "--labels-file": args.labels_file,
            "--resize-method": args.resize_method,
            "--pad-mode": args.pad_mode,
            "--exif-orientation": args.exif_orientation or None,
            "--aug-transforms": args.aug_transforms or None,
        }
        extra += [flag for flag, value in named.items() if value is not None]
        if extra:
            raise ChoriError(
                f"--fastai reads the labels and the preprocessing from the learner; drop "
                f"{', '.join(extra)}"
            )
    elif args.labels is None and args.labels_file is None:
        raise ChoriError("give the labels: --labels A,B,... or --labels-file FILE")
    if args.aug_transforms and args.fastai_arch is None:
        raise ChoriError("--aug-transforms goes with --fastai-arch (a --fastai pickle says itself)")
    loaded = load_model(
        weights=args.weights,
        arch=args.arch,
        model=args.model,
        num_classes=args.num_classes,
        exported_program=args.exported_program,
        fastai=args.fastai,
        fastai_arch=args.fastai_arch,
    )
    if loaded.labels is not None and loaded.input_spec is not None:
        labels, spec = list(loaded.labels), loaded.input_spec
    else:
        labels, spec = read_labels(args.labels, args.labels_file), _input_spec(args)
    if args.aug_transforms:
        module, spec = fastai_learner.in_graph(loaded.module, spec, fastai_learner.Resampling())
        loaded = dataclasses.replace(loaded, module=module)
    result = export_artifact(
        loaded,
        labels=labels,
        input_spec=spec,
        out=args.out,
        method="script" if args.script else "trace",
        output_kind=args.output_kind,
        format=args.format,
        precision=args.precision,
    )
    print(result.summary())
    if args.golden is not None:
        out, document = write_embedded_golden(args.out, [args.golden])
        print(
            f"wrote {out}: golden set of {len(document['images'])} images "
            f"({len(document['rejected'])} rejected), optimize {document['optimize']['form']}; "
            "chori-torch serve checks it at start (--verify)"
        )
    return 0


def _golden(args: argparse.Namespace) -> int:
    document = write_golden(
        args.model,
        args.images,
        args.out,
        topk=args.topk,
        threads=args.threads,
        optimize_form=args.optimize,
        precision=args.precision,
        device=args.device,
        deterministic=args.deterministic,
    )
    print(
        f"wrote {args.out}: {len(document['images'])} images, "
        f"{len(document['rejected'])} rejected, top-{args.topk}, {args.threads} thread(s), "
        f"optimize {document['optimize']['form']}, precision {document['precision']}, "
        f"on {document['device_name']}"
    )
    return 0


def _demo(args: argparse.Namespace) -> int:
    run_demo(args.out)
    return 0


# -- parser --------------------------------------------------------------------------------------


def _paragraph(text: str) -> str:
    # The raw formatter keeps the examples' line breaks, so prose is wrapped here instead.
    return textwrap.fill(text, width=80)


def build_parser() -> argparse.ArgumentParser:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(
        prog="chori",
        description=_paragraph(
            "Export PyTorch image classifiers for the chori-torch Node.js addon and record the "
            "predictions Node must reproduce."
        ),
        epilog="Run `chori COMMAND --help` for the flags of each command.",
        formatter_class=formatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    verbose = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: an absent -v after the subcommand must not undo one given before it.
    verbose.add_argument(
        "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log at DEBUG level"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    export = commands.add_parser(
        "export",
        parents=[verbose],
        formatter_class=formatter,
        help="write a verified TorchScript (or .pt2) artifact with its chori.json metadata",
        description=_paragraph(
            "Export a classifier to one TorchScript file (or, with --format pt2, one "
            "torch.export + AOTInductor package) that embeds its labels and preprocessing "
            "(chori.json). The file is loaded back and compared with the eager model on a "
            "seeded input; if they differ, nothing is written."
        ),
        epilog="examples:\n"
        "  chori export --fastai export.pkl --out export/choripan.pt\n"
        "  chori export --fastai-arch resnet34 --weights models/stage1.pth --resize 224 \\\n"
        '      --labels "Not Choripan,Choripan" --out export/choripan.pt\n'
        "  chori export --arch resnet34 --weights stage1.pth \\\n"
        '      --labels "Not Choripan,Choripan" --out export/choripan.pt\n'
        "  chori export --arch mypkg.models:build --weights best.pth --labels-file labels.txt \\\n"
        "      --resize 64 --crop 56 --out export/model.pt\n"
        "  chori export --model whole_model.pt --labels cat,dog --script --out export/pets.pt\n"
        "  chori export --arch resnet34 --weights stage1.pth --labels-file labels.txt \\\n"
        "      --format pt2 --out export/choripan.pt2\n"
        "  chori export --exported-program program.pt2 --labels cat,dog --format pt2 \\\n"
        "      --out export/pets.pt2",
    )
    source = export.add_argument_group(
        "model source (--fastai, --weights with --arch or --fastai-arch, --model, or "
        "--exported-program)"
    )
    source.add_argument(
        "--fastai",
        type=Path,
        metavar="EXPORT.PKL",
        help="a fastai learner saved with learn.export(): the model, its labels (dls.vocab) and "
        "its inference preprocessing (Resize, ToTensor, IntToFloatTensor, Normalize) are read "
        "from it, so no --labels or preprocessing flags are given; needs fastai installed "
        "(pip install 'chori-torch[fastai]'). A pipeline step chori-torch cannot reproduce is "
        "refused by name",
    )
    source.add_argument(
        "--fastai-arch",
        metavar="NAME",
        help="for a learn.save() checkpoint in --weights (models/stage1.pth, with or without the "
        "optimizer state): the torchvision architecture the learner was built on (resnet34, as "
        "vision_learner(dls, resnet34) or create_cnn took it); the model is rebuilt with "
        "fastai's create_vision_model. Give --resize (and --resize-method, --pad-mode) as the "
        "learner's Resize, --labels in dls.vocab order, and --mean/--std if it normalised with "
        "other statistics than ImageNet's",
    )
    source.add_argument(
        "--weights",
        type=Path,
        metavar="FILE",
        help="state_dict checkpoint (torch.save(model.state_dict())); a dict wrapping it under "
        "'state_dict' or 'model_state_dict' and 'module.' prefixes from DataParallel are accepted",
    )
    source.add_argument(
        "--arch",
        metavar="NAME",
        help="architecture for --weights: a torchvision.models builder name (e.g. resnet34, "
        "built with weights=None and num_classes=N) or an import path package.module:factory "
        "whose factory takes num_classes=",
    )
    source.add_argument(
        "--num-classes",
        type=positive_int_arg,
        metavar="N",
        help="outputs of the classifier (default: inferred from the checkpoint's last Linear or "
        "1x1-conv weight)",
    )
    source.add_argument(
        "--model",
        type=Path,
        metavar="FILE",
        help="a whole pickled model (torch.save(model)); its class must be importable",
    )
    source.add_argument(
        "--exported-program",
        type=Path,
        metavar="FILE",
        help="a program saved with torch.export.save, compiled as it is (--format pt2 only); "
        "it must take one Nx3xHxW batch with a dynamic N (dynamic_shapes={x: {0: "
        "torch.export.Dim('batch')}}) at the H,W that --crop / --resize give. A separate flag "
        "rather than --model because both are zip files: what you saved decides, not the name",
    )
    names = export.add_argument_group(
        "labels (one is required, except with --fastai)"
    ).add_mutually_exclusive_group()
    names.add_argument("--labels", metavar="A,B,...", help="comma-separated, in output order")
    names.add_argument(
        "--labels-file", type=Path, metavar="FILE", help="one label per line, in output order"
    )
    prep = export.add_argument_group(
        "preprocessing (torchvision semantics and ImageNet defaults; with --fastai-arch, --resize "
        "is fastai's Resize)"
    )
    prep.add_argument(
        "--resize",
        type=resize_arg,
        default=argparse.SUPPRESS,
        metavar="S|H,W|none",
        help="S resizes the shorter side to S keeping the aspect ratio; H,W resizes to exactly "
        f"HxW (default: {_show(DEFAULT_INPUT.resize)})",
    )
    prep.add_argument(
        "--max-size",
        type=max_size_arg,
        default=argparse.SUPPRESS,
        metavar="N|none",
        help="with --resize S, cap the longer side at N (default: "
        f"{_show(DEFAULT_INPUT.max_size)})",
    )
    prep.add_argument(
        "--crop",
        type=crop_arg,
        default=argparse.SUPPRESS,
        metavar="N|H,W|none",
        help=f"center crop after resizing (default: {_show(DEFAULT_INPUT.crop)})",
    )
    prep.add_argument(
        "--interpolation",
        choices=INTERPOLATIONS,
        default=argparse.SUPPRESS,
        help=f"resize filter, PIL's, antialiased (default: {DEFAULT_INPUT.interpolation})",
    )
    prep.add_argument(
        "--mean",
        type=floats3_arg,
        default=argparse.SUPPRESS,
        metavar="R,G,B",
        help=f"Normalize mean after ToTensor (default: {_show(DEFAULT_INPUT.mean)})",
    )
    prep.add_argument(
        "--std",
        type=floats3_arg,
        default=argparse.SUPPRESS,
        metavar="R,G,B",
        help=f"Normalize std after ToTensor (default: {_show(DEFAULT_INPUT.std)})",
    )
    prep.add_argument(
        "--resize-method",
        choices=RESIZE_METHODS,
        help="with --fastai-arch, fastai's Resize method: crop (centre crop to the aspect ratio, "
        "then resize), squish (resize, ignoring the aspect ratio) or pad (pad to the aspect "
        "ratio, then resize) (default: crop, fastai's)",
    )
    prep.add_argument(
        "--pad-mode",
        choices=PAD_MODES,
        help="with --fastai-arch and --resize-method pad: how fastai pads, zeros, border or "
        "reflection (default: reflection, fastai's)",
    )
    prep.add_argument(
        "--exif-orientation",
        action="store_true",
        help="turn each image upright by its EXIF orientation tag before preprocessing, as "
        "PIL's ImageOps.exif_transpose does (phone photos are often stored sideways with the "
        "tag saying so); recorded in chori.json so the addon does the same. Use it if the model "
        "was trained on exif_transpose'd images (default: off, the tag is ignored as "
        "Image.open ignores it)",
    )
    prep.add_argument(
        "--aug-transforms",
        action="store_true",
        help="with --fastai-arch: the learner's batch_tfms included aug_transforms() (with its "
        "default mode, pad_mode and align_corners). fastai still resamples each batch through "
        "an identity grid at inference, which moves the input by up to ~3e-5; the export runs "
        "that step and Normalize inside the graph to match (a --fastai pickle is read as it is)",
    )
    conversion = export.add_argument_group("conversion and output")
    conversion.add_argument(
        "--script",
        action="store_true",
        help="torch.jit.script instead of tracing; needed when forward() branches on the data "
        "(default: trace)",
    )
    conversion.add_argument(
        "--format",
        choices=FORMATS,
        default="torchscript",
        help="torchscript: one TorchScript file (.pt), loaded by libtorch's torch::jit::load. "
        "pt2: torch.export (dynamic batch 1-64) compiled by AOTInductor into one .pt2 package "
        "for this CPU and torch release; needs a C++ compiler, takes seconds to minutes, needs "
        "a fixed input size (--crop, or --resize H,W) and runs only on the torch release it was "
        "compiled with; Node's load-time --optimize passes do not apply to it (default: "
        "torchscript)",
    )
    conversion.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="record the precision Node's load() runs the model in when its caller names none: "
        "bf16 (weights and activations in bfloat16; several times faster on CPUs with "
        "AVX512_BF16 or AMX, answers matched by chori golden --precision bf16) or fp32 "
        "(default: none recorded, which means fp32). TorchScript only",
    )
    conversion.add_argument(
        "--output-kind",
        choices=OUTPUT_KINDS,
        default="logits",
        help="what the model returns: logits (scores = softmax) or probabilities (used as is) "
        "(default: logits)",
    )
    conversion.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="artifact to write (e.g. model.pt, or model.pt2 with --format pt2)",
    )
    conversion.add_argument(
        "--golden",
        type=Path,
        metavar="DIR",
        help="a few images (a file or a directory, searched recursively): their reference "
        "predictions and the images themselves are written beside the artifact as "
        "<name>.golden.json; chori-torch serve predicts them at start and compares the logits "
        "before it reports ready (--verify exact|top1|off). Recorded with --optimize auto and 1 "
        "thread, the server's defaults; at most 32 images, 8 MiB",
    )
    export.set_defaults(handler=_export)

    golden = commands.add_parser(
        "golden",
        parents=[verbose],
        formatter_class=formatter,
        help="record reference predictions for a set of images",
        description=_paragraph(
            "Run the reference pipeline (Pillow + torchvision, as described by the artifact's "
            "chori.json) and the artifact itself on each image, one at a time, and write the "
            "predictions as JSON. Files Pillow cannot read are reported and listed as rejected."
        ),
        epilog="example:\n"
        "  chori golden --model export/model.pt --images export/images --out export/golden.json",
    )
    golden.add_argument(
        "--model", type=Path, required=True, metavar="FILE", help="artifact from chori export"
    )
    golden.add_argument(
        "--images",
        type=Path,
        nargs="+",
        required=True,
        metavar="PATH",
        help="image files and/or directories (searched recursively); processed in sorted order",
    )
    golden.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="FILE",
        help="JSON to write; image names in it are relative to its directory",
    )
    golden.add_argument(
        "--topk",
        type=positive_int_arg,
        default=5,
        metavar="K",
        help="classes to list per image (default: 5)",
    )
    golden.add_argument(
        "--threads",
        type=positive_int_arg,
        default=1,
        metavar="N",
        help="torch.set_num_threads for the run (default: 1)",
    )
    golden.add_argument(
        "--optimize",
        choices=CHOICES,
        default="auto",
        help="the load-time graph passes, as the Node addon's load({optimize}) applies them: "
        "auto (onednn when the model's input size is fixed, else freeze), none (the artifact as "
        "saved), freeze, ofi (freeze + optimize_for_inference) or onednn (freeze + oneDNN Graph "
        "fusion). Use the value your Node service loads with (default: auto, as Node's default). "
        "A .pt2 package was optimised when compiled: only auto and none apply, both recorded as "
        "none",
    )
    golden.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="the precision the module computes in, as the Node addon's load({precision}) "
        "converts it: fp32, or bf16 (the weights and the input converted to bfloat16 before the "
        "passes, the output widened back to float32). Default: the precision the artifact "
        "records (chori export --precision), else fp32",
    )
    golden.add_argument(
        "--device",
        default="cpu",
        metavar="DEVICE",
        help="where the model runs: cpu, cuda or cuda:N, as the Node addon's load({device}) "
        "(the image pipeline stays on the CPU). A GPU golden set is matched exactly only by Node "
        "on the same GPU model and torch build, loaded with the same --optimize and "
        "--deterministic (default: cpu)",
    )
    golden.add_argument(
        "--deterministic",
        action="store_true",
        help="on a GPU: cuDNN deterministic algorithms and no TF32, as load({deterministic: true})",
    )
    golden.set_defaults(handler=_golden)

    demo = commands.add_parser(
        "demo",
        parents=[verbose],
        formatter_class=formatter,
        help="train the Face / Not face demo model and export it with examples and golden JSON",
        description=_paragraph(
            "Train a small CNN on scikit-image's lfw_subset (needs the 'demo' extra), save its "
            "state_dict, export it like `chori export --arch chori_torch.demo_model:build`, "
            "write held-out example images and their golden predictions. Deterministic; "
            "rerunning overwrites."
        ),
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("export"),
        metavar="DIR",
        help="writes DIR/model.pt, DIR/golden.json, DIR/images/, DIR/demo/weights.pth "
        "(default: export)",
    )
    demo.set_defaults(handler=_demo)
    return parser


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno == logging.INFO else f"{record.levelname.lower()}: "
        text = f"chori: {level}{record.getMessage()}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


@contextmanager
def _logging_to_stderr(verbose: bool) -> Iterator[None]:
    """Route the package's logs to stderr for one command, then restore the caller's setup.

    Restoring matters when ``main`` is called in-process (tests, notebooks): a handler left on
    a since-replaced ``sys.stderr``, or a disabled propagation, would outlive the command.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    saved = (log.handlers[:], log.level, log.propagate)
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False
    try:
        yield
    finally:
        log.handlers[:], log.level, log.propagate = saved


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace], int] = args.handler
    with _logging_to_stderr(args.verbose):
        try:
            return handler(args)
        except (ChoriError, OSError) as e:  # OSError: unreadable inputs, unwritable outputs
            log.debug("traceback of the error below", exc_info=True)
            print(f"chori: error: {e}", file=sys.stderr)
            return EXIT_USER_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
