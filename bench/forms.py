"""The load-time optimisation study behind ``optimize: 'auto'`` (docs/ARCHITECTURE.md).

    .venv/bin/python bench/forms.py [--rounds N] [--threads N] [ARCH ...]
    .venv/bin/python bench/forms.py --determinism [ARCH ...]
    .venv/bin/python bench/forms.py --study [--aoti] [--precision bf16] [ARCH ...]

Timing: every form of each model is built in one process and timed round-robin (the host is
shared and noisy; timing one form after another misleads), batch 1 and batch 8, through
:func:`chori_torch.optimize.optimize`, the very code ``chori golden`` uses. ``--determinism``
runs each form in fresh processes at 1, 2, 4 and 16 threads (the counts the adaptive scheduler
of addon/src/model/loader.cc may pick on machines up to 16 cores) and compares the output bits
of a fixed input, and of a repeat within the process; ``--precision bf16`` checks the bf16 forms.
``--study`` times the candidates the depthwise study weighed against the shipped ``onednn`` form
(``CANDIDATES``; onnxruntime's figure when the ``onnxruntime`` package is importable): each
round takes the best of 5 calls per candidate after a pause (so one runtime's spinning threads
do not land on the next), and the ratio printed is the median of the per-round ratios, which
load on a shared host moves far less than the times themselves.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision

from chori_torch.demo_model import build as build_demo
from chori_torch.metadata import InputSpec
from chori_torch.optimize import DTYPES, FORMS, channels_last, optimize

ARCHS = ("resnet18", "resnet50", "mobilenet_v3_large", "demo")
LIGHT = ("mobilenet_v3_large", "efficientnet_b0")  # depthwise, hardswish/SiLU, squeeze-excite


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


# oneDNN Graph does not map aten::hardsigmoid (mobilenet_v3's squeeze-excite gate), which
# leaves the gate and its multiply outside the fused partitions; written as PyTorch defines it,
# add/hardtanh/div, it fuses into the convolution before it.
HARDSIGMOID = """
graph(%x):
  %r = aten::hardsigmoid(%x)
  return (%r)"""
HARDSIGMOID_FUSABLE = """
graph(%x):
  %three : float = prim::Constant[value=3.]()
  %zero : float = prim::Constant[value=0.]()
  %six : float = prim::Constant[value=6.]()
  %one : int = prim::Constant[value=1]()
  %shifted = aten::add(%x, %three, %one)
  %clamped = aten::hardtanh(%shifted, %zero, %six)
  %r = aten::div(%clamped, %six)
  return (%r)"""


def _jit(passes: Callable, fusion: bool, nhwc: bool) -> Callable:
    def build(module: torch.jit.ScriptModule, dtype: torch.dtype) -> Callable:
        module.to(dtype)
        if nhwc:
            channels_last(module)
        frozen = passes(module)

        def run(x: torch.Tensor) -> torch.Tensor:
            x = x.to(dtype)
            x = x.contiguous(memory_format=torch.channels_last) if nhwc else x
            with torch.jit.optimized_execution(fusion):
                return frozen(x)

        return run

    return build


def _fusable_hardsigmoid(module: torch.jit.ScriptModule) -> torch.jit.ScriptModule:
    frozen = torch.jit.freeze(module)
    rewrite = torch._C._jit_pass_custom_pattern_based_rewrite_graph
    rewrite(HARDSIGMOID, HARDSIGMOID_FUSABLE, frozen.graph)
    return frozen


# name → builder(traced module, dtype) → callable; "onednn" is the shipped form (channels-last).
CANDIDATES: dict[str, Callable] = {
    "onednn": _jit(torch.jit.freeze, True, True),
    "onednn-nchw": _jit(torch.jit.freeze, True, False),
    "cl-freeze": _jit(torch.jit.freeze, False, True),
    "cl-ofi": _jit(torch.jit.optimize_for_inference, False, True),
    "onednn-hsig": _jit(_fusable_hardsigmoid, True, True),
}


def _aoti(arch: str, model: torch.nn.Module, x: torch.Tensor) -> Callable:
    """An AOTInductor package for a static batch of 1, frozen, C++ wrapper (compiled once)."""
    import torch._inductor.config as inductor

    package = Path(__file__).resolve().parent / ".work" / f"{arch}-static.pt2"
    if not package.is_file():
        package.parent.mkdir(exist_ok=True)
        inductor.freezing, inductor.cpp_wrapper = True, True
        with torch.no_grad():
            program = torch.export.export(model, (x,))
            torch._inductor.aoti_compile_and_package(program, package_path=str(package))
    return torch._inductor.aoti_load_package(str(package))


def _onnxruntime(
    arch: str, module: torch.jit.ScriptModule, x: torch.Tensor, threads: int
) -> dict[str, Callable]:
    """onnxruntime's CPU session over the same weights, with and without its spinning threads;
    {} when the package is not importable."""
    try:
        import onnxruntime
    except ImportError:
        return {}
    path = Path(__file__).resolve().parent / ".work" / f"{arch}-study.onnx"
    path.parent.mkdir(exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), str(path), dynamo=False, input_names=["input"])
    runners: dict[str, Callable] = {}
    for name, spin in (("ort", "1"), ("ort-nospin", "0")):
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.add_session_config_entry("session.intra_op.allow_spinning", spin)
        session = onnxruntime.InferenceSession(str(path), options)
        runners[name] = lambda t, s=session: torch.from_numpy(s.run(None, {"input": t.numpy()})[0])
    return runners


def study(arch: str, rounds: int, precision: str, aoti: bool) -> None:
    torch.manual_seed(0)
    model = getattr(torchvision.models, arch)(weights=None).eval()
    x = torch.rand(1, 3, 224, 224)
    module, _ = traced(arch)
    saved = io.BytesIO()
    torch.jit.save(module, saved)
    torch.jit.enable_onednn_fusion(True)
    runners: dict[str, Callable] = {}
    for name, build in CANDIDATES.items():
        saved.seek(0)
        runners[name] = build(torch.jit.load(saved), DTYPES[precision])
    if aoti and precision == "fp32":
        runners["aoti-static"] = _aoti(arch, model, x)
    if precision == "fp32":
        runners.update(_onnxruntime(arch, module, x, torch.get_num_threads()))
    best: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        for run in runners.values():
            for _ in range(3):
                run(x)
        for _ in range(rounds):
            for name, run in runners.items():
                time.sleep(0.03)
                run(x)
                times = []
                for _ in range(5):
                    start = time.perf_counter()
                    run(x)
                    times.append((time.perf_counter() - start) * 1e3)
                best[name].append(min(times))
    for name, times in best.items():
        ratio = statistics.median(a / b for a, b in zip(times, best["onednn"], strict=True))
        print(
            f"{arch:18s} {precision} {name:12s} {statistics.median(times):7.2f} ms  "
            f"{ratio:4.2f}x onednn",
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
    parser.add_argument("--study", action="store_true", help="time the depthwise candidates")
    parser.add_argument("--aoti", action="store_true", help="--study: add an AOTInductor package")
    parser.add_argument("--fingerprint", nargs=2, metavar=("ARCH", "FORM"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.fingerprint:
        fingerprint(*args.fingerprint, args.precision)
        return
    print(f"{cpu()}, torch {torch.__version__}, {args.threads} threads, pid {os.getpid()}")
    if args.study:
        for arch in args.archs if args.archs != list(ARCHS) else LIGHT:
            study(arch, args.rounds, args.precision, args.aoti)
    elif args.determinism:
        determinism(args.archs, args.precision)
    else:
        for arch in args.archs:
            timing(arch, args.rounds)


if __name__ == "__main__":
    main()
