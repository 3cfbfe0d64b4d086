"""The model alone: milliseconds per 320x320 forward pass, and achieved GFLOP/s."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np


def conv_flops(path: Path) -> float:
    """FLOPs of one pass counted from the graph: 2 x multiply-accumulates of every Conv."""
    import onnx
    from onnx import shape_inference

    model = shape_inference.infer_shapes(onnx.load(path))
    graph = model.graph
    dims = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
            for v in [*graph.value_info, *graph.output, *graph.input]}
    weights = {i.name: list(i.dims) for i in graph.initializer}
    macs = 0
    for node in graph.node:
        if node.op_type == "Conv" and node.input[1] in weights and node.output[0] in dims:
            out = dims[node.output[0]]
            macs += int(np.prod(out)) * int(np.prod(weights[node.input[1]][1:]))
    return 2.0 * macs


def session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def measure(models: dict[str, Path], threads: tuple[int, ...] = (1, 2), passes: int = 15,
            sample: np.ndarray | None = None, block: int = 5) -> dict[str, dict[int, list[float]]]:
    """Seconds per pass for each model and thread count.

    Models alternate in blocks of `block` passes, and the first pass of each block
    is not counted: onnxruntime's idle worker threads spin for a while after a
    run, and on two cores the spinning threads of the session that just ran
    slow the next session's first pass (measured: 59 -> 90 ms for INT8 when
    alternating pass by pass), which is a benchmark artefact, not a property
    of either model (one process serves one model).
    """
    x = sample if sample is not None else np.random.default_rng(0).standard_normal(
        (1, 3, 320, 320)).astype(np.float32)
    results: dict[str, dict[int, list[float]]] = {name: {} for name in models}
    for count in threads:
        sessions = {name: session(path, count) for name, path in models.items()}
        for name in sessions:
            results[name][count] = []
        for _ in range(max(1, passes // block)):
            for name, s in sessions.items():
                feed = {s.get_inputs()[0].name: x}
                outputs = [s.get_outputs()[0].name]
                s.run(outputs, feed)
                for _ in range(block):
                    started = time.perf_counter()
                    s.run(outputs, feed)
                    results[name][count].append(time.perf_counter() - started)
    return results
