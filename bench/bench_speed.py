"""Speed comparisons of the acceleration and deployment chapters, in one run, as ratios.

* eager vs ``torch.compile`` (steady state, after the first call) of a 784-1024-1024-10 MLP
  forward pass at batch 64;
* fp32 vs bf16 autocast, same model and batch;
* PyTorch vs ONNX Runtime (fp32), same model, batch 1 and 64;
* the HTTP inference service on 127.0.0.1: latency percentiles and throughput under a bounded load.

Candidates are timed in interleaved rounds (``dlopt_lab.timing.compare``), medians reported.

    python bench/bench_speed.py
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import time
import warnings
from pathlib import Path

import torch
from torch import nn

import dlopt_lab as lab


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                         nn.Linear(1024, 10)).eval()


def onnx_session(model: nn.Module, example: torch.Tensor):
    import onnxruntime as ort

    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        logging.disable(logging.WARNING)
        program = torch.onnx.export(model, (example,), dynamo=True,
                                    dynamic_shapes=({0: torch.export.Dim("batch")},))
        logging.disable(logging.NOTSET)
    return ort.InferenceSession(program.model_proto.SerializeToString(),
                                providers=["CPUExecutionProvider"])


def main() -> dict:
    results: dict = {"torch": torch.__version__, "threads": torch.get_num_threads()}
    model = mlp()
    x64, x1 = torch.randn(64, 784), torch.randn(1, 784)

    # eager vs compiled
    compiled = torch.compile(model)
    t0 = time.perf_counter()
    with torch.inference_mode():
        compiled(x64)
    results["compile_first_call_s"] = time.perf_counter() - t0
    with torch.inference_mode():
        t = lab.compare({"eager": lambda: model(x64), "compiled": lambda: compiled(x64)},
                        repeats=100, warmup=10)
    results["compiled_over_eager_speedup"] = t["eager"].median / t["compiled"].median
    results["eager_ms"], results["compiled_ms"] = 1e3 * t["eager"].median, 1e3 * t["compiled"].median

    # fp32 vs bf16 autocast
    def bf16():
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return model(x64)

    with torch.inference_mode():
        t = lab.compare({"fp32": lambda: model(x64), "bf16": bf16}, repeats=100, warmup=10)
    results["bf16_over_fp32_speedup"] = t["fp32"].median / t["bf16"].median

    # PyTorch vs ONNX Runtime
    sess = onnx_session(model, x64)
    name = sess.get_inputs()[0].name
    for batch, x in (("1", x1), ("64", x64)):
        xn = x.numpy()
        with torch.inference_mode():
            t = lab.compare({"torch": lambda x=x: model(x), "ort": lambda xn=xn: sess.run(None, {name: xn})},
                            repeats=200, warmup=20)
        results[f"ort_over_torch_speedup_batch{batch}"] = t["torch"].median / t["ort"].median

    # the service under a bounded load on loopback
    small = nn.Sequential(nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10)).eval()
    payload = {"inputs": torch.rand(8, 64).tolist()}
    with lab.serve(lab.create_app(small)) as server:
        load = lab.load_test(server.url + "/predict", [payload], concurrency=4, max_requests=300)
    results["service"] = {"requests": load.n_requests, "errors": load.n_errors, "p50_ms": load.p50_ms,
                          "p99_ms": load.p99_ms, "throughput_rps": load.throughput}

    for key, value in results.items():
        print(f"{key}: {value:.3g}" if isinstance(value, float) else f"{key}: {value}")
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / "speed.json").write_text(json.dumps(results, indent=2))
    return results


if __name__ == "__main__":
    main()
