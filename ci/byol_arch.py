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
