"""The load-time optimisation study behind ``optimize: 'auto'`` (docs/ARCHITECTURE.md).

    .venv/bin/python bench/forms.py [--rounds N] [--threads N] [ARCH ...]
    .venv/bin/python bench/forms.py --determinism [ARCH ...]

Timing: every form of each model is built in one process and timed round-robin (the host is
shared and noisy; timing one form after another misleads), batch 1 and batch 8, through
:func:`chori_torch.optimize.optimize`, the very code ``chori golden`` uses. ``--determinism``
runs each form in fresh processes at 1, 2, 4 and 16 threads (the counts the adaptive scheduler
may pick on machines up to 16 cores, js/adaptive.js) and compares the output bits of a fixed
input, and of a repeat within the process; ``--precision bf16`` checks the bf16 forms.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch
import torchvision

from chori_torch.demo_model import build as build_demo
from chori_torch.metadata import InputSpec
from chori_torch.optimize import FORMS, optimize

ARCHS = ("resnet18", "resnet50", "mobilenet_v3_large", "demo")


def cpu() -> str:
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in info.splitlines() if "model name" in ln), ""
    )
    flags = next(
        (ln.split(":", 1)[1].split() for ln in info.splitlines() if ln.startswith("flags")), []
    )
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_tile")
    return f"{model or platform.processor()} [{' '.join(f for f in wanted if f in flags)}]"


def traced(arch: str) -> tuple[torch.jit.ScriptModule, InputSpec]:
    torch.manual_seed(0)
    if arch == "demo":
        model, spec = build_demo(num_classes=2), InputSpec(resize=(64,), crop=(56, 56))
    else:
        model, spec = getattr(torchvision.models, arch)(num_classes=1000), InputSpec()
    size = spec.crop or (224, 224)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        return torch.jit.trace(model.eval(), torch.rand(1, 3, *size)), spec


def timing(arch: str, rounds: int) -> None:
    module, spec = traced(arch)
    forms = {form: optimize(module, form, spec) for form in FORMS}
    size = spec.crop or (224, 224)
    x1, x8 = torch.rand(1, 3, *size), torch.rand(8, 3, *size)
    t1: dict[str, list[float]] = {f: [] for f in forms}
    t8: dict[str, list[float]] = {f: [] for f in forms}
    with torch.inference_mode():
        for f in forms.values():
            for _ in range(3):
                f(x8)
        for _ in range(rounds):
            for name, f in forms.items():
                for _ in range(4):
                    start = time.perf_counter()
                    f(x1)
                    t1[name].append((time.perf_counter() - start) * 1e3)
                start = time.perf_counter()
                f(x8)
                t8[name].append(8 / (time.perf_counter() - start))
    base1, base8 = statistics.median(t1["none"]), statistics.median(t8["none"])
    for name in forms:
        m1, m8 = statistics.median(t1[name]), statistics.median(t8[name])
        print(
            f"{arch:18s} {name:7s} bs1 {m1:7.2f} ms ({m1 / base1:4.2f}x none)   "
            f"bs8 {m8:7.1f} img/s ({m8 / base8:4.2f}x none)",
            flush=True,
        )


THREAD_COUNTS = (1, 2, 4, 16)


def fingerprint(arch: str, form: str, precision: str) -> None:
    """Prints the hash of one output, and whether a repeat in this process gives the same bits."""
    module, spec = traced(arch)
    f = optimize(module, form, spec, precision=precision)  # type: ignore[arg-type]
    x = torch.rand(1, 3, *(spec.crop or (224, 224)), generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():
        a, b = f(x), f(x)
    digest = hashlib.sha256(a.numpy().tobytes()).hexdigest()[:16]
    print(digest, "same" if torch.equal(a, b) else "differs")


def determinism(archs: list[str], precision: str) -> None:
    for arch in archs:
        for form in FORMS:
            seen: dict[int, list[list[str]]] = {}
            for threads in (*THREAD_COUNTS, 1):
                argv = [sys.executable, __file__, "--fingerprint", arch, form]
                argv += ["--threads", str(threads), "--precision", precision]
                out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
                seen.setdefault(threads, []).append(out.split())
            runs = [o for outs in seen.values() for o in outs]
            across_processes = seen[1][0][0] == seen[1][1][0]
            across_threads = all(seen[t][0][0] == seen[1][0][0] for t in THREAD_COUNTS)
            repeat = all(o[1] == "same" for o in runs)
            counts = ", ".join(map(str, THREAD_COUNTS))
            print(
                f"{arch:18s} {form:7s} {precision} same bits across processes: "
                f"{across_processes}, at {counts} threads: {across_threads}, on a repeat: {repeat}",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("archs", nargs="*", default=list(ARCHS), metavar="ARCH")
    parser.add_argument("--rounds", type=int, default=6, help="round-robin rounds (default 6)")
    parser.add_argument("--threads", type=int, default=2, help="intra-op threads (default 2)")
    parser.add_argument("--determinism", action="store_true", help="compare output bits instead")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    parser.add_argument("--fingerprint", nargs=2, metavar=("ARCH", "FORM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fingerprint:
        fingerprint(*args.fingerprint, args.precision)
        return
    print(f"{cpu()}, torch {torch.__version__}, {args.threads} threads, pid {os.getpid()}")
    if args.determinism:
        determinism(args.archs, args.precision)
    else:
        for arch in args.archs:
            timing(arch, args.rounds)


if __name__ == "__main__":
    main()
