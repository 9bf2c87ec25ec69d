"""The docs/contract.md §2 architecture in plain Python: the ordered state names and
shapes of a BYOL network, and the project's documented seeded initialization in NumPy.

Used by the fixture and cross-check scripts in ci/; an independent restatement of what
the Swift `BYOLModel` module does, so that the two can be compared.
"""
import numpy as np

PRESETS = {
    "resnet18": dict(widths=[64, 128, 256, 512], blocks=[2, 2, 2, 2], H=4096, D=256, P=4096),
    "small": dict(widths=[32, 64, 128, 256], blocks=[2, 2, 2, 2], H=1024, D=128, P=1024),
    "tiny": dict(widths=[4, 4, 8, 8], blocks=[1, 1, 1, 1], H=16, D=8, P=16),
}


def _bn(name, c):
    return [(name + ".weight", (c,), "bn_weight", 0), (name + ".bias", (c,), "bn_bias", 0),
            (name + ".running_mean", (c,), "running_mean", 0), (name + ".running_var", (c,), "running_var", 0),
            (name + ".num_batches_tracked", (), "count", 0)]


def part_specs(arch, part):
    """[(name, shape, kind, fan_in)] of one part, in PyTorch state_dict order."""
    w, b = arch["widths"], arch["blocks"]
    out = []
    if part == "backbone":
        out.append(("conv1.weight", (w[0], 3, 3, 3), "conv", 27))
        out += _bn("bn1", w[0])
        cin = w[0]
        for s in range(4):
            for i in range(b[s]):
                stride = 2 if (s > 0 and i == 0) else 1
                p = "layer%d.%d" % (s + 1, i)
                out.append((p + ".conv1.weight", (w[s], cin, 3, 3), "conv", cin * 9))
                out += _bn(p + ".bn1", w[s])
                out.append((p + ".conv2.weight", (w[s], w[s], 3, 3), "conv", w[s] * 9))
                out += _bn(p + ".bn2", w[s])
                if stride != 1 or cin != w[s]:
                    out.append((p + ".downsample.0.weight", (w[s], cin, 1, 1), "conv", cin))
                    out += _bn(p + ".downsample.1", w[s])
                cin = w[s]
    else:
        i, h, o = (w[3], arch["H"], arch["D"]) if part == "projector" else (arch["D"], arch["P"], arch["D"])
        out += [("0.weight", (h, i), "linear", i), ("0.bias", (h,), "bias", i)]
        out += _bn("1", h)
        out += [("3.weight", (o, h), "linear", h), ("3.bias", (o,), "bias", h)]
    return out


def online_specs(arch):
    return [("online.%s.%s" % (part, n), s, k, f) for part in ("backbone", "projector", "predictor")
            for (n, s, k, f) in part_specs(arch, part)]


def init_state(arch, seed):
    """The documented initialization: array j of the online network draws
    lo + (hi - lo) * u from Generator(Philox(key=[seed, 1], counter=[0, j, 0, 0]))."""
    state = {}
    for j, (name, shape, kind, fan_in) in enumerate(online_specs(arch)):
        if kind in ("conv", "linear", "bias"):
            g = np.random.Generator(np.random.Philox(key=np.array([seed, 1], dtype=np.uint64),
                                                     counter=np.array([0, j, 0, 0], dtype=np.uint64)))
            b = 1.0 / np.sqrt(float(fan_in))
            n = int(np.prod(shape))
            u = g.random(n)
            state[name] = (-b + (b - (-b)) * u).reshape(shape)
        elif kind in ("bn_weight", "running_var"):
            state[name] = np.ones(shape)
        elif kind in ("bn_bias", "running_mean"):
            state[name] = np.zeros(shape)
        else:
            state[name] = np.array(0, dtype=np.int64)
    for name in list(state):
        if not name.startswith("online.predictor."):
            state["target." + name[len("online."):]] = state[name].copy()
    state["step"] = np.array(0, dtype=np.int64)
    return state


def target_specs(arch):
    """The target network's arrays: the online backbone and projector under `target.`."""
    return [("target." + n[len("online."):], s, k, f) for (n, s, k, f) in online_specs(arch)
            if not n.startswith("online.predictor.")]


def check(path):
    """Differences between this restatement and `byol arch` JSON of the preset the file
    is named for (Fixtures/arch/PRESET.json): the shape parameters and every array's
    name, shape, kind and fan-in, in order. An empty list: they agree."""
    import json
    import os
    with open(path) as f:
        d = json.load(f)
    preset = os.path.basename(path)[: -len(".json")]
    if preset not in PRESETS:
        return ["%s: no preset named %s here" % (path, preset)]
    a = PRESETS[preset]
    problems = []
    mine = dict(widths=a["widths"], blocks=a["blocks"], proj_hidden=a["H"], proj_out=a["D"], pred_hidden=a["P"])
    for k, v in mine.items():
        if d.get(k) != v:
            problems.append("%s: %s is %s in the package, %s here" % (path, k, d.get(k), v))
    for part, specs in (("online", online_specs(a)), ("target", target_specs(a))):
        here = [[n, list(s), k, f] for (n, s, k, f) in specs]
        there = d.get(part, [])
        for i, (x, y) in enumerate(zip(there, here)):
            if x != y:
                problems.append("%s: %s array %d: %s in the package, %s here" % (path, part, i, x, y))
                break
        if len(there) != len(here):
            problems.append("%s: %d %s arrays in the package, %d here" % (path, len(there), part, len(here)))
    return problems


if __name__ == "__main__":
    import sys
    if len(sys.argv) < 3 or sys.argv[1] != "--check":
        sys.exit("usage: ci/byol_arch.py --check Fixtures/arch/PRESET.json ...")
    found = [p for path in sys.argv[2:] for p in check(path)]
    for p in found:
        print("byol_arch.py: " + p, file=sys.stderr)
    if not found:
        print("ci/byol_arch.py agrees with the package's network description: " + ", ".join(sys.argv[2:]))
    sys.exit(1 if found else 0)
