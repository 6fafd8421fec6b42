"""A fast-path candidate, measured: several runs of one shape trained as one stacked model.

    python bench/stacked_forward.py                   # s1, s3, s5; 3 runs; 1 and 2 threads
    python bench/stacked_forward.py --sizes s1 --members 2 3 4 --threads 2
    python bench/stacked_forward.py --tiny            # CI smoke: s1, 2 runs, 1 thread

The idea: a small model is bound by a fixed cost per op, so runs of one shape (an lr
search's probes, a size's noise seeds) could share their ops. Each parameter of the M runs
becomes one (M, ...) tensor and every member's `GPT2LMHeadModel` parameter a view of its
row (`Stack.of`), so that its optimizer and checkpoint are those of a run trained alone.
`logits` does what Hugging Face's GPT-2 does, op for op, on the stacked tensors:
`baddbmm` where `Conv1D` calls `addmm` (the same kernel per member), the same attention
function (`scalecli.sweep.model.causal_attention`), LayerNorm per member (the fused affine
kernel rounds differently from a normalise-then-scale).

Training is chaotic (bench/perturbation.py: one weight changed by one part in a million
moves s1's final held-out loss by about 0.005 nats), so a fast path keeps the numbers only
if it is bit-identical. This one is, per member, in fp32 and bf16 on one thread: the check
below compares logits and every gradient with the plain model's. On two threads bf16
weight gradients with a long reduction (K = batch tokens) can differ in the last bit:
oneDNN splits a single matmul's reduction between the threads and a batched one's not.

It is not in `scalecli sweep`, because on a 2-core EPYC with AVX512-BF16 it is no faster:
there a step's ops are bound by their work, not their count (bench/profile_step.py: two
threads halve an s1 step), so sharing ops saves little, and the per-member LayerNorms and
the stacking cost it back. The last line is KEY=VALUE: per size and thread count, the
stacked path's time per run over the plain model's (below 1: stacking is faster), and
whether every member was bit-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F


@dataclass
class Stack:
    """M models of one shape, their parameters stacked: name -> (M, ...) leaf tensor."""

    params: dict[str, torch.Tensor]
    members: list[Any]  # the GPT2LMHeadModels, whose parameters are views of `params`
    config: Any
    scalings: list[float]  # each block's attention scale (muP changes it)
    readout: float | None  # muP's readout multiplier m: logits of ln_f(h) / m

    @classmethod
    def of(cls, models: list[Any]) -> Stack:
        """Stack `models` (same shape, same settings): each parameter's values move into an
        (M, ...) tensor and every member's parameter becomes a view of its row, so that a
        member's optimizer, checkpoint and saved weights see the stacked values."""
        first = models[0]
        params: dict[str, torch.Tensor] = {}
        for name, _ in first.named_parameters():  # tied weights once, as model.parameters()
            rows = [m.get_parameter(name) for m in models]
            stacked = torch.stack([p.detach() for p in rows]).requires_grad_(True)
            for i, p in enumerate(rows):
                p.data = stacked.data[i]
            params[name] = stacked
        blocks = first.transformer.h
        return cls(params, list(models), first.config, [b.attn.scaling for b in blocks],
                   getattr(first, "_scalecli_mup", None))

    def share_grads(self) -> None:
        """Point each member's .grad at its row of the stacked gradient (after backward):
        a member's clipping and optimizer step then work on its own gradient, in place."""
        for name, stacked in self.params.items():
            for i, member in enumerate(self.members):
                member.get_parameter(name).grad = None if stacked.grad is None \
                    else stacked.grad[i]

    def zero_grad(self) -> None:
        for stacked in self.params.values():
            stacked.grad = None
        for member in self.members:
            for p in member.parameters():
                p.grad = None


def logits(stack: Stack, input_ids: torch.Tensor) -> torch.Tensor:
    """(M, B, T) token ids, row i for member i -> (M, B, T, vocab) logits, as each member's
    `model(input_ids=ids[i], use_cache=False).logits` computes them (under the caller's
    autocast)."""
    p, cfg = stack.params, stack.config
    m, b, t = input_ids.shape
    vocab, d = p["transformer.wte.weight"].shape[1:]
    # Token embeddings: one lookup in the (M * V, d) table, member i's ids offset by i * V.
    offsets = torch.arange(m, device=input_ids.device).view(m, 1, 1) * vocab
    wte = p["transformer.wte.weight"]
    h = F.embedding(input_ids + offsets, wte.reshape(m * vocab, d))  # (M, B, T, d)
    h = h + p["transformer.wpe.weight"][:, None, :t]
    for layer in range(cfg.n_layer):
        h = _block(stack, layer, h)
    h = _layer_norm(p, "transformer.ln_f", h, cfg.layer_norm_epsilon)
    if stack.readout is not None:
        h = h / stack.readout
    # The tied head: logits = h @ wte^T per member (nn.Linear without bias).
    out = torch.bmm(h.reshape(m, b * t, d), wte.transpose(1, 2))
    return out.view(m, b, t, vocab)


def _block(stack: Stack, layer: int, h: torch.Tensor) -> torch.Tensor:
    p, cfg = stack.params, stack.config
    name = f"transformer.h.{layer}"
    eps = cfg.layer_norm_epsilon
    h = _attention(stack, layer, _layer_norm(p, f"{name}.ln_1", h, eps)) + h
    x = _conv1d(p, f"{name}.mlp.c_fc", _layer_norm(p, f"{name}.ln_2", h, eps))
    x = _activation(cfg.activation_function)(x)
    return h + _conv1d(p, f"{name}.mlp.c_proj", x)


def _attention(stack: Stack, layer: int, h: torch.Tensor) -> torch.Tensor:
    from scalecli.sweep.model import causal_attention

    p, cfg = stack.params, stack.config
    m, b, t, d = h.shape
    heads = cfg.n_head
    qkv = _conv1d(p, f"transformer.h.{layer}.attn.c_attn", h)  # (M, B, T, 3d)
    q, k, v = (x.reshape(m * b, t, heads, d // heads).transpose(1, 2)
               for x in qkv.split(d, dim=3))
    out = causal_attention(q, k, v, stack.scalings[layer])  # (M * B, T, H, hd)
    out = out.reshape(m, b, t, d).contiguous()
    return _conv1d(p, f"transformer.h.{layer}.attn.c_proj", out)


def _conv1d(p: dict[str, torch.Tensor], name: str, x: torch.Tensor) -> torch.Tensor:
    """HF's Conv1D (addmm(bias, x, weight)) for every member in one baddbmm."""
    weight, bias = p[f"{name}.weight"], p[f"{name}.bias"]
    m = x.shape[0]
    out = torch.baddbmm(bias[:, None, :], x.reshape(m, -1, x.shape[-1]), weight)
    return out.view(*x.shape[:-1], weight.shape[-1])


def _layer_norm(p: dict[str, torch.Tensor], name: str, x: torch.Tensor,
                eps: float) -> torch.Tensor:
    weight, bias = p[f"{name}.weight"], p[f"{name}.bias"]
    d = x.shape[-1]
    return torch.stack([F.layer_norm(x[i], (d,), weight[i], bias[i], eps)
                        for i in range(x.shape[0])])


def _activation(name: str) -> Any:
    from transformers.activations import ACT2FN

    return ACT2FN[name]


def _bench_models(size: str, members: int) -> list[Any]:
    from scalecli.sweep.model import build_model, gpt2_config
    from scalecli.sweep.sizes import SIZES

    shape = {k: SIZES[size][k] for k in ("n_layer", "n_embd", "n_head")}
    config = gpt2_config(**shape, vocab_size=1024, n_ctx=128)
    return [build_model(config, seed) for seed in range(members)]


def _loss(logits_: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(logits_.float().flatten(0, 1), targets.flatten())


def identical(size: str, members: int, dtype: torch.dtype | None) -> bool:
    """Logits and every gradient of the stacked path equal the plain models', bit for bit."""
    import copy

    models = _bench_models(size, members)
    plain = [copy.deepcopy(m) for m in models]
    g = torch.Generator().manual_seed(0)
    x = torch.randint(0, 1024, (members, 16, 128), generator=g)
    y = torch.randint(0, 1024, (members, 16, 128), generator=g)
    autocast = dict(device_type="cpu", dtype=dtype or torch.float32, enabled=dtype is not None)
    expected = []
    for i, m in enumerate(plain):
        with torch.autocast(**autocast):
            out = m(input_ids=x[i], use_cache=False).logits
        _loss(out, y[i]).backward()
        expected.append(out.detach())
    stack = Stack.of(models)
    with torch.autocast(**autocast):
        out = logits(stack, x)
    sum(_loss(out[i], y[i]) for i in range(members)).backward()
    stack.share_grads()
    same = all(torch.equal(out[i].detach(), expected[i]) for i in range(members))
    for m, p in zip(models, plain, strict=True):
        for a, b in zip(m.parameters(), p.parameters(), strict=True):
            same = same and torch.equal(a.grad, b.grad)
    return same


def seconds_per_run(size: str, members: int, rounds: int, steps: int) -> tuple[float, float]:
    """(plain, stacked) forward + backward seconds per run, medians of interleaved rounds."""
    import copy
    import statistics
    import time

    models = _bench_models(size, members)
    plain = [copy.deepcopy(m) for m in models]
    stack = Stack.of(models)
    x = torch.randint(0, 1024, (members, 16, 128))
    y = torch.randint(0, 1024, (members, 16, 128))

    def run_plain() -> None:
        for i, m in enumerate(plain):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = m(input_ids=x[i], use_cache=False).logits
            _loss(out, y[i]).backward()
            m.zero_grad(set_to_none=True)

    def run_stacked() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = logits(stack, x)
        sum(_loss(out[i], y[i]) for i in range(members)).backward()
        stack.zero_grad()

    times: dict[Any, list[float]] = {run_plain: [], run_stacked: []}
    for r in range(rounds):
        for f in (run_plain, run_stacked) if r % 2 == 0 else (run_stacked, run_plain):
            f()  # warm
            start = time.perf_counter()
            for _ in range(steps):
                f()
            times[f].append((time.perf_counter() - start) / steps / members)
    return statistics.median(times[run_plain]), statistics.median(times[run_stacked])


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["s1", "s3", "s5"])
    parser.add_argument("--members", nargs="+", type=int, default=[3])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--tiny", action="store_true")
    args = parser.parse_args()
    if args.tiny:
        args.sizes, args.members, args.threads, args.rounds, args.steps = ["s1"], [2], [1], 1, 1
    fields = {}
    print(f"{'size':<5} {'runs':>4} {'threads':>7} {'plain ms/run':>13} {'stacked ms/run':>15} "
          f"{'ratio':>6}  bit-identical (fp32, bf16)")
    for threads in args.threads:
        torch.set_num_threads(threads)
        for size in args.sizes:
            for members in args.members:
                same = (identical(size, members, None), identical(size, members, torch.bfloat16))
                plain, stacked = seconds_per_run(size, members, args.rounds, args.steps)
                ratio = stacked / plain
                print(f"{size:<5} {members:>4} {threads:>7} {plain * 1e3:>13.2f} "
                      f"{stacked * 1e3:>15.2f} {ratio:>6.2f}  {same[0]}, {same[1]}")
                key = f"{size}_m{members}_t{threads}"
                fields[f"{key}_ratio"] = f"{ratio:.2f}"
                fields[f"{key}_identical"] = "yes" if all(same) else (
                    "fp32" if same[0] else "no")
    print(" ".join(f"{k}={v}" for k, v in fields.items()))


if __name__ == "__main__":
    main()
