"""Exporting a torch module to an ONNX graph that is checked against torch before it is used.

Needs torch and onnx; the graphs run in :mod:`styletransfer.onnx.runtime`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

__all__ = ["export_checked", "standard_layers"]


def export_checked(module, example, path: Path, input_name, output_name, meta: dict,
                   transform=None, tolerance: float = 1e-3) -> float:
    """Export ``module`` (torch, fp32, eval mode) to ``path`` as opset 17 with dynamic batch,
    height and width, run the graph in ONNX Runtime on ``example`` and compare with torch.
    Several inputs: ``example`` and ``input_name`` are tuples of the same length; several
    outputs: ``output_name`` is a tuple and ``module`` returns a tuple in that order (the
    difference is the largest over all of them).
    ``transform(tmp_path) -> new_path`` may rewrite the exported file first (e.g. quantise it).
    The file is written under a temporary name and moved into place only when the largest
    absolute difference is at most ``tolerance``; a JSON beside it records ``meta``, the
    opset, torch's version and the difference. Returns the difference.
    """
    import warnings

    import onnxruntime as ort
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.part")
    examples = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    names = tuple(input_name) if isinstance(input_name, (tuple, list)) else (input_name,)
    if len(examples) != len(names):
        raise ValueError(f"{len(examples)} example inputs for {len(names)} input names")
    outputs = tuple(output_name) if isinstance(output_name, (tuple, list)) else (output_name,)
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, examples, str(tmp), input_names=list(names), output_names=list(outputs),
                          dynamic_axes={**({names[0]: axes} if len(names) == 1 else
                                           {n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in names}),
                                        **({outputs[0]: axes} if len(outputs) == 1 else
                                           {n: {0: "batch", 2: f"{n}_height", 3: f"{n}_width"} for n in outputs})},
                          opset_version=17, dynamo=False)
    final = tmp
    try:
        if transform is not None:
            final = transform(tmp)
        with torch.inference_mode():
            expected = module(*examples)
        expected = [t.numpy() for t in (expected if isinstance(expected, (tuple, list)) else (expected,))]
        got = ort.InferenceSession(str(final), providers=["CPUExecutionProvider"]).run(
            None, {n: x.numpy() for n, x in zip(names, examples)})
        if len(got) != len(expected):
            raise ValueError(f"the graph has {len(got)} outputs, the module {len(expected)}")
        max_abs = max(float(np.abs(g - e).max()) for g, e in zip(got, expected))
        if max_abs <= tolerance:
            final.replace(path)
            path.with_suffix(".json").write_text(json.dumps({
                **meta, "opset": 17, "torch": torch.__version__, "max_abs_diff_vs_torch": max_abs,
                "check_input": [list(x.shape) for x in examples] if len(examples) > 1 else list(examples[0].shape)},
                indent=1))
        return max_abs
    finally:
        for leftover in {tmp, final}:
            leftover.unlink(missing_ok=True)


def standard_layers(module, nn, layers) -> None:
    """Swap the channels-last helper layers for torch.nn's (same function, standard ONNX ops)."""
    for name, child in module.named_children():
        if isinstance(child, layers.ReflectionPad2d):
            setattr(module, name, nn.ReflectionPad2d(child.pad))
        elif isinstance(child, layers.InstanceNorm2d):
            norm = nn.InstanceNorm2d(child.num_features, eps=child.eps, affine=child.affine)
            if child.affine:
                norm.weight.data.copy_(child.weight.data.float())
                norm.bias.data.copy_(child.bias.data.float())
            setattr(module, name, norm)
        else:
            standard_layers(child, nn, layers)
