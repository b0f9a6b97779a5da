"""The Python reference under benchmark, driven by bench/run.js like bench/worker.js.

    .venv/bin/python bench/reference.py --model NAME --threads N [--optimize FORM]

Per image, bytes to label, exactly the golden pipeline (chori_torch.golden): PIL
``Image.open(...).convert("RGB")`` and the torchvision transforms built from the artifact's
metadata (chori_torch.preprocessing), then the same TorchScript artifact under
``torch.jit.load`` at batch 1 under ``torch.inference_mode()``, softmax and top-k.
``torch.set_num_threads(N)`` as the Node runtimes get. Concurrency is what a Python server
would do: a thread pool of N callers sharing the model. With ``--optimize``, the module first
goes through the same load-time passes as the addon applies (chori_torch.optimize): "Python
with the same passes", so the report shows what is libtorch's and what is ours.

Protocol: one JSON command per stdin line, one JSON answer per stdout line (bench/lib.js).
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import PIL
import torch
import torchvision

from chori_torch.artifact import load_artifact
from chori_torch.optimize import CHOICES, optimize, resolve
from chori_torch.preprocessing import build_transform, open_image

WORK = Path(__file__).resolve().parent / ".work"
TOPK = 5


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


class Reference:
    def __init__(self, model_path: Path, threads: int, optimize_form: str) -> None:
        self.threads = threads
        torch.set_num_threads(threads)
        start = time.perf_counter()
        self.artifact = load_artifact(model_path)
        spec = self.artifact.metadata.input
        self.module = optimize(self.artifact.module, resolve(optimize_form, spec), spec)
        self.transform = build_transform(spec)
        self.load_ms = (time.perf_counter() - start) * 1e3
        self.labels = self.artifact.metadata.labels
        self.probabilities = self.artifact.metadata.output.kind == "probabilities"

    def tensor(self, data: bytes) -> torch.Tensor:
        return self.transform(open_image(data))

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            logits = self.module(batch)[0]
            scores = logits if self.probabilities else logits.softmax(0)
            return torch.topk(scores, min(TOPK, scores.numel())).indices

    def predict(self, data: bytes) -> str:
        return self.labels[int(self.forward(self.tensor(data).unsqueeze(0))[0])]


def closed_loop(
    ref: Reference, corpus: list[bytes], concurrency: int, warmup_ms: float, duration_ms: float
) -> dict:
    """N threads in a closed loop for warmup + duration; see closedLoop in bench/lib.js."""
    lock = threading.Lock()
    counter = iter(range(sys.maxsize))
    t0 = time.perf_counter()
    window_start = t0 + warmup_ms / 1e3
    window_end = window_start + duration_ms / 1e3
    latencies: list[float] = []
    completed = 0

    def caller() -> None:
        nonlocal completed
        while time.perf_counter() < window_end:
            with lock:
                index = next(counter) % len(corpus)
            start = time.perf_counter()
            ref.predict(corpus[index])
            end = time.perf_counter()
            with lock:
                if window_start <= start <= window_end:
                    latencies.append((end - start) * 1e3)
                if window_start <= end <= window_end:
                    completed += 1

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(caller) for _ in range(concurrency)]
        time.sleep(max(0.0, window_start - time.perf_counter()))
        cpu_start, cpu_wall_start = time.process_time(), time.perf_counter()
        time.sleep(max(0.0, window_end - time.perf_counter()))
        cpu = time.process_time() - cpu_start
        cpu_seconds = time.perf_counter() - cpu_wall_start
        for f in futures:
            f.result()
    seconds = window_end - window_start
    return {
        "completed": completed,
        "seconds": seconds,
        "throughput": completed / seconds,
        "latencies": latencies,
        "cpuPercent": 100 * cpu / cpu_seconds,
        "peakRssMiB": peak_rss_mib(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--optimize", choices=CHOICES, default="none")
    args = parser.parse_args()
    model_path = Path(json.loads((WORK / "models.json").read_text())[args.model])
    files = [Path(f) for f in json.loads((WORK / "corpus.json").read_text())]
    corpus = [f.read_bytes() for f in files]
    ref = Reference(model_path, args.threads, args.optimize)

    def hello(_: dict) -> dict:
        return {
            "loadMs": ref.load_ms,
            "optimize": ref.module.form,
            "versions": {
                "python": sys.version.split()[0],
                "torch": torch.__version__,
                "torchvision": torchvision.__version__,
                "Pillow": PIL.__version__,
            },
            "parallelInfo": torch.__config__.parallel_info(),
            "peakRssMiB": peak_rss_mib(),
        }

    def top1(_: dict) -> dict:
        return {"labels": [ref.predict(data) for data in corpus]}

    def throughput(cmd: dict) -> dict:
        return closed_loop(ref, corpus, cmd["concurrency"], cmd["warmupMs"], cmd["durationMs"])

    def forward(cmd: dict) -> dict:
        # The forward (plus softmax and top-k, as the addon's inferenceMs includes them) of each
        # image's model input, batch 1, one call at a time: libtorch as Python drives it. Each
        # image is preprocessed (untimed) right before its forward, as in a predict() call, so
        # that the forward meets the thread pool in the state chori's and onnxruntime's do.
        ms = []
        for _ in range(cmd["rounds"]):
            for data in corpus:
                x = ref.tensor(data).unsqueeze(0)
                start = time.perf_counter()
                ref.forward(x)
                ms.append((time.perf_counter() - start) * 1e3)
        return {"ms": ms}

    def preprocess(cmd: dict) -> dict:
        # bytes → model input (PIL decode + torchvision transforms), one thread.
        torch.set_num_threads(1)
        try:
            ms = []
            for _ in range(cmd["rounds"]):
                for data in corpus:
                    start = time.perf_counter()
                    ref.tensor(data)
                    ms.append((time.perf_counter() - start) * 1e3)
        finally:
            torch.set_num_threads(ref.threads)
        return {"ms": ms, "names": [f.name for f in files]}

    def exit_(_: dict) -> dict:
        return {"peakRssMiB": peak_rss_mib()}

    handlers = {
        "hello": hello,
        "top1": top1,
        "throughput": throughput,
        "forward": forward,
        "preprocess": preprocess,
        "exit": exit_,
    }
    print(json.dumps({"ok": True, "ready": True}), flush=True)
    while line := sys.stdin.readline():
        try:
            cmd = json.loads(line)
            answer = {"ok": True, **handlers[cmd["op"]](cmd)}
        except Exception as e:  # reported to the driver, which fails loudly
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"}
        print(json.dumps(answer, allow_nan=False), flush=True)
        if cmd.get("op") == "exit":
            return


if __name__ == "__main__":
    main()
