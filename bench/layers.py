"""Torch's layers against styletransfer.layers, side by side in one process (issue #5).

For 1024×768 inputs (channels-last, bfloat16 autocast, inference mode, as the
AdaIN decoder and the Johnson nets run), times alternately:

* reflection padding: ``nn.ReflectionPad2d`` vs :func:`styletransfer.layers.reflect_pad`;
* instance norm: ``nn.InstanceNorm2d`` vs :class:`styletransfer.layers.InstanceNorm2d`;
* whole networks: the AdaIN decoder and the Johnson TransformerNet built with
  torch's layers ("before") and with ours ("after"), same weights (random
  unless ``--decoder`` names a checkpoint), and the largest output difference.

Example::

    python bench/layers.py --repeats 7
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402,F401  (puts the library on sys.path)


def _ab(fn_a, fn_b, repeats: int) -> tuple[float, float, float]:
    """Medians of alternating calls (a, b, a, b …) and the median per-pair ratio b/a."""
    fn_a(), fn_b()
    ta, tb, ratios = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        fn_a()
        a = time.perf_counter() - t
        t = time.perf_counter()
        fn_b()
        b = time.perf_counter() - t
        ta.append(a)
        tb.append(b)
        ratios.append(b / a)
    return statistics.median(ta), statistics.median(tb), statistics.median(ratios)


def _with_torch_layers(module):
    """A copy of ``module`` with our pads/norms swapped back to torch's (same weights)."""
    from torch import nn

    from styletransfer import layers

    module = copy.deepcopy(module)

    def swap(parent):
        for name, child in parent.named_children():
            if isinstance(child, layers.ReflectionPad2d):
                setattr(parent, name, nn.ReflectionPad2d(child.pad))
            elif isinstance(child, layers.InstanceNorm2d):
                norm = nn.InstanceNorm2d(child.num_features, affine=child.affine)
                norm.load_state_dict(child.state_dict())
                setattr(parent, name, norm)
            else:
                swap(child)

    swap(module)
    return module


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--height", type=int, default=768)
    p.add_argument("--width", type=int, default=1024)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    import torch
    from torch import nn

    from styletransfer.adain import Decoder
    from styletransfer.johnson import TransformerNet
    from styletransfer.layers import InstanceNorm2d, reflect_pad

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cl = torch.channels_last
    h, w = args.height, args.width
    rows = []

    def autocast():
        return torch.autocast("cpu", dtype=torch.bfloat16)

    with torch.inference_mode():
        for shape, pad in [((1, 32, h, w), 4), ((1, 64, h // 2, w // 2), 1), ((1, 256, h // 4, w // 4), 1)]:
            x = torch.randn(*shape).to(torch.bfloat16).contiguous(memory_format=cl)
            theirs = nn.ReflectionPad2d(pad)
            assert torch.equal(theirs(x), reflect_pad(x, pad))
            rows.append((f"reflection pad {pad}, {tuple(shape)} bf16", *_ab(lambda: theirs(x), lambda: reflect_pad(x, pad),
                                                                        args.repeats), 0.0))

        for shape in [(1, 32, h, w), (1, 128, h // 4, w // 4)]:
            c = shape[1]
            x = (torch.randn(*shape) * 2 + 1).to(torch.bfloat16).contiguous(memory_format=cl)  # a bf16 conv output
            theirs = nn.InstanceNorm2d(c, affine=True)
            ours = InstanceNorm2d(c, affine=True)
            ours.load_state_dict(theirs.state_dict())

            def run(norm):
                with autocast():
                    return norm(x)

            diff = float((run(ours).float() - theirs(x.float())).abs().max())
            rows.append((f"instance norm, {tuple(shape)} autocast", *_ab(lambda: run(theirs), lambda: run(ours),
                                                                          args.repeats), diff))

        decoder = Decoder().to(memory_format=cl).eval()
        net = TransformerNet().eval()
        for m in net.modules():  # non-trivial affine parameters
            if isinstance(m, nn.InstanceNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
        net = net.to(memory_format=cl)
        for name, after, x in [
            ("AdaIN decoder (relu4_1 → image)", decoder, torch.rand(1, 512, h // 8, w // 8).mul(400).contiguous(memory_format=cl)),
            ("Johnson TransformerNet", net, torch.rand(1, 3, h, w).contiguous(memory_format=cl)),
        ]:
            before = _with_torch_layers(after)

            def run(model, x=x):
                with autocast():
                    return model(x).float()

            diff = float((run(before) - run(after)).abs().max())
            rows.append((f"{name}, {w}×{h}", *_ab(lambda: run(before), lambda: run(after), args.repeats), diff))

    print(f"{torch.get_num_threads()} torch threads, medians of {args.repeats} alternating calls\n")
    print("| what | torch's layers s | ours s | ours/torch (median of pairs) | max abs diff |")
    print("|---|---|---|---|---|")
    for name, a, b, ratio, diff in rows:
        print(f"| {name} | {a:.4f} | {b:.4f} | **{ratio:.2f}×** | {diff:.2g} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
