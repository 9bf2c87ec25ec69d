#!/usr/bin/env python3
"""Scale-out model of data-parallel pretraining (docs/performance.md, "Data parallelism").

From the architecture it counts what one step exchanges: the weight-gradient exchange
(an all-to-all of block sums, then an allgather of the roots: about 2 x 4 bytes per
conv and linear weight per rank when P divides S in powers of two) and the BN exchanges
(2 exchanges per train-mode BN layer in forward, 1 in backward, of float64 block sums:
log2 P pairwise steps by recursive doubling where the ranks' blocks pair up along the
reduction tree, else an allgather of every rank's blocks). From measured compute rates and an assumed network it projects the
time of a step of a global batch on P ranks and the efficiency: compute / (compute +
communication), without overlap (the implementation overlaps nothing).

Usage: ci/scaleout_model.py RATE_SMALL RATE_RESNET18 [--batch 4096] [--groups 128]
         [--latency-us 10]
RATE_*: measured images/s of one rank (one process and its threads) at that preset.
"""
import argparse
import math

PRESETS = {  # widths, blocks per stage, projector hidden H, output D, predictor hidden
    "small": ([32, 64, 128, 256], [2, 2, 2, 2], 1024, 128, 1024),
    "resnet18": ([64, 128, 256, 512], [2, 2, 2, 2], 4096, 256, 4096),
}


def layers(preset):
    """Weight elements reduced by the tree, and the channel counts of the BN layers of
    the backbone and of the heads."""
    w, b, h, d, p = PRESETS[preset]
    weights = 3 * w[0] * 9
    bn = [w[0]]
    cin = w[0]
    for stage, (width, count) in enumerate(zip(w, b)):
        for i in range(count):
            stride = 2 if stage > 0 and i == 0 else 1
            weights += cin * width * 9 + width * width * 9
            bn += [width, width]
            if stride != 1 or cin != width:
                weights += cin * width
                bn.append(width)
            cin = width
    weights += w[3] * h + h * d + d * p + p * d
    return weights, bn, [h, p]


def blocks(groups, lo, hi):
    """The largest nodes of the reduction tree over `groups` leaves inside [lo, hi)
    (Fast/ReductionTree.swift)."""
    out = []
    def visit(a, b):
        if a >= lo and b <= hi:
            out.append((a, b))
        elif b - a > 1 and a < hi and b > lo:
            mid = a + (b - a) // 2
            visit(a, mid)
            visit(mid, b)
    visit(0, groups)
    return out


def pairs_up(groups, ranks):
    """Whether ranks r and r ^ 2^k hold sibling nodes at every level (GroupReduction.pairsForDoubling)."""
    nodes = [blocks(groups, r * groups // ranks, (r + 1) * groups // ranks)[0] for r in range(ranks)]
    while len(nodes) > 1:
        parents = []
        for (a, b), (c, d) in zip(nodes[0::2], nodes[1::2]):
            mid = a + (d - a) // 2
            if b != c or mid != b:
                return False
            parents.append((a, d))
        nodes = parents
    return True


def step_exchange(preset, ranks, groups, bn_batches=2):
    """(bytes the busiest rank sends for weight gradients, for BN; collective calls) per step."""
    weights, backbone, heads = layers(preset)
    per_rank = [len(blocks(groups, r * groups // ranks, (r + 1) * groups // ranks)) for r in range(ranks)]
    total, most = sum(per_rank), max(per_rank)
    others = (ranks - 1) / ranks
    # All-to-all: a rank's blocks, each but its own slice to the others; allgather: its
    # slice of the roots to every other rank (ring: (P - 1) / P of the vector).
    grad = (most + 1) * 4 * weights * others
    # Each BN exchange moves float64 block sums (`width` values per channel and BN
    # batch): by recursive doubling where the blocks pair up along the tree (P a power of
    # two, one block per rank: log2 P exchanges of one block), else an allgather (a rank
    # sends its blocks to each other rank).
    doubling = ranks & (ranks - 1) == 0 and most == 1 and pairs_up(groups, ranks)
    def bn(channels, width):
        steps = int(math.log2(ranks)) if doubling else ranks - 1
        return 8 * most * channels * bn_batches * width * steps
    forward = 2 * sum(bn(c, 1) for c in backbone) * 2 + 2 * bn(heads[0], 1) + 2 * sum(bn(c, 1) for c in heads)
    backward = sum(bn(c, 2) for c in backbone) + sum(bn(c, 3) for c in heads)
    # BN: target forward, online forward, online backward; then the loss, a bias
    # gradient, the two calls of the weight exchange and two agreements.
    calls = 2 * (len(backbone) + 1) + 2 * (len(backbone) + 2) + (len(backbone) + 2) + 6
    return grad, forward + backward, calls, doubling


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("rate_small", type=float)
    ap.add_argument("rate_resnet18", type=float)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--groups", type=int, default=128)
    ap.add_argument("--latency-us", type=float, default=10.0)
    a = ap.parse_args()
    rates = {"small": a.rate_small, "resnet18": a.rate_resnet18}
    print(f"global batch {a.batch} in {a.groups} sample groups; latency {a.latency_us:g} us per message step; no overlap\n")
    for preset in PRESETS:
        weights, backbone, heads = layers(preset)
        g, b, calls, _ = step_exchange(preset, 2, a.groups)
        print(f"{preset}: {weights / 1e6:.2f} M reduced weights; {len(backbone) + len(heads)} BN layers, {calls} collective calls per step")
    print()
    print("| preset | ranks | compute / step | sent per rank / step (grad + BN) | 10 Gbit/s | 25 Gbit/s | 100 Gbit/s |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for preset in PRESETS:
        for ranks in (8, 32, 128):
            compute = a.batch / ranks / rates[preset]
            grad, bn, calls, doubling = step_exchange(preset, ranks, a.groups)
            bn_steps = int(math.log2(ranks)) if doubling else ranks - 1
            cells = []
            for gbit in (10, 25, 100):
                # Collectives: log2 P message steps each (recursive doubling / Bruck), the
                # all-to-all P - 1 (pairwise).
                latency = a.latency_us * 1e-6 * ((calls - 1) * math.ceil(math.log2(ranks)) + (ranks - 1))
                # (doubling: log2 P message steps per BN exchange, as assumed above)
                comm = (grad + bn) * 8 / (gbit * 1e9) + latency
                cells.append(f"{100 * compute / (compute + comm):.0f}%")
            print(f"| {preset} | {ranks} | {compute:.2f} s | {(grad + bn) / 1e6:.0f} MB ({grad / 1e6:.0f} + {bn / 1e6:.0f}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
