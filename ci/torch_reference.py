#!/usr/bin/env python3
"""An independent PyTorch float64 implementation of the byol-swift contract
(docs/contract.md): the same modules with the same parameter names, one BYOL step
(`step`) and eval-mode features (`embed`), and the golden cases of goldens/MANIFEST.json
(`goldens`), whose outputs are committed under goldens/torch/ for `byol goldens verify`,
`byol verify` and `swift test` to compare against at 1e-10.

Setup (CI never needs it; the outputs are committed):
    python3 -m venv ~/venv-torch && ~/venv-torch/bin/pip install torch==2.15.0 torchvision numpy
Usage, from the repository root:
    ~/venv-torch/bin/python ci/torch_reference.py goldens            # rewrite goldens/torch/
    ~/venv-torch/bin/python ci/torch_reference.py step --state s.npz --views v.npz --out n.npz \
        [--grads g.npz] [--optimizer lars|sgd|adam] [--lr X] ... (the flags of `byol step`)
    ~/venv-torch/bin/python ci/torch_reference.py embed --state s.npz --images i.npz --out f.npz [--network online|target]

Modules: torchvision's BasicBlock for the residual blocks, torch.nn for the rest, all in
float64. LARS is not in torch: it is written out below from the BYOL paper's code as
docs/contract.md states it.
"""
import argparse
import hashlib
import json
import os
import sys
import zipfile

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.resnet import BasicBlock

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byol_arch import PRESETS, init_state  # noqa: E402
from digest import digest_arrays  # noqa: E402

torch.use_deterministic_algorithms(True)
ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


# ---------------------------------------------------------------- modules

class Backbone(nn.Module):
    """CIFAR-stem ResNet: 3x3 conv1 (stride 1), bn1, ReLU, no max-pool, 4 stages."""

    def __init__(self, widths, blocks):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for s in range(4):
            layers = []
            for b in range(blocks[s]):
                stride = 2 if (s > 0 and b == 0) else 1
                down = None
                if stride != 1 or cin != widths[s]:
                    down = nn.Sequential(nn.Conv2d(cin, widths[s], 1, stride, bias=False), nn.BatchNorm2d(widths[s]))
                layers.append(BasicBlock(cin, widths[s], stride, down))
                cin = widths[s]
            setattr(self, "layer%d" % (s + 1), nn.Sequential(*layers))

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        for s in range(1, 5):
            x = getattr(self, "layer%d" % s)(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)


def mlp(i, h, o):
    return nn.Sequential(nn.Linear(i, h), nn.BatchNorm1d(h), nn.ReLU(), nn.Linear(h, o))


class Network(nn.Module):
    def __init__(self, arch, predictor):
        super().__init__()
        self.backbone = Backbone(arch["widths"], arch["blocks"])
        self.projector = mlp(arch["widths"][3], arch["H"], arch["D"])
        if predictor:
            self.predictor = mlp(arch["D"], arch["P"], arch["D"])

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return self.predictor(z) if hasattr(self, "predictor") else z


# ---------------------------------------------------------------- state

def infer_arch(state):
    widths, blocks = [], []
    for s in range(1, 5):
        b = 0
        while "online.backbone.layer%d.%d.conv1.weight" % (s, b) in state:
            b += 1
        blocks.append(b)
        widths.append(state["online.backbone.layer%d.0.conv1.weight" % s].shape[0])
    return dict(widths=widths, blocks=blocks, H=state["online.projector.0.weight"].shape[0],
                D=state["online.projector.3.weight"].shape[0], P=state["online.predictor.0.weight"].shape[0])


def load_npz(path):
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


def build(state, prefix, predictor):
    arch = infer_arch(state)
    net = Network(arch, predictor).double()
    sd = {}
    for k in net.state_dict():
        a = state[prefix + "." + k]
        sd[k] = torch.from_numpy(np.array(a, dtype=np.int64 if a.dtype.kind == "i" else np.float64))
    net.load_state_dict(sd, strict=True)
    return net


def export(net, prefix):
    return {prefix + "." + k: v.detach().numpy().copy() for k, v in net.state_dict().items()}


# ---------------------------------------------------------------- step

def byol_loss(p, z):
    """mean over rows of || normalize(p) - normalize(z) ||^2, normalize = x / max(||x||, 1e-12)."""
    return ((F.normalize(p, dim=1, eps=1e-12) - F.normalize(z, dim=1, eps=1e-12)) ** 2).sum(dim=1).mean()


# The buffers each optimizer keeps per parameter (contract.md §2).
BUFFERS = {"sgd": ["momentum_buffer"], "lars": ["momentum_buffer"], "adam": ["exp_avg", "exp_avg_sq"]}


def optimizer_step(kind, params, incoming, steps_done, h):
    """One update of the tensors `params` (each holding its .grad) by optimizer `kind`, in
    the tensors' own dtype. `h`: the hyperparameters named as the kit's case inputs (lr,
    momentum, weight_decay, eta, beta1, beta2, eps); `incoming`: per tensor, a dict of its
    buffers (absent = zeros, as a fresh PyTorch optimizer has them). Returns the new
    buffers, one dict of numpy arrays per tensor. sgd and adam are torch.optim as it is;
    lars is spelled out after the BYOL paper's code. Also used by ci/conformance_torch.py."""
    def buf(p_, a):
        return torch.as_tensor(np.asarray(a), dtype=p_.dtype).clone()
    if kind == "sgd":
        o = torch.optim.SGD(params, lr=h["lr"], momentum=h["momentum"], weight_decay=h["weight_decay"], foreach=False)
        for p_, bufs in zip(params, incoming):
            if "momentum_buffer" in bufs:
                o.state[p_]["momentum_buffer"] = buf(p_, bufs["momentum_buffer"])
        o.step()
        return [{"momentum_buffer": o.state[p_]["momentum_buffer"].detach().numpy().copy()} for p_ in params]
    if kind == "adam":
        o = torch.optim.Adam(params, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"], weight_decay=h["weight_decay"],
                             foreach=False)
        for p_, bufs in zip(params, incoming):
            if steps_done > 0 or bufs:
                o.state[p_]["step"] = torch.tensor(float(steps_done), dtype=torch.float64)
                o.state[p_]["exp_avg"] = buf(p_, bufs.get("exp_avg", np.zeros(p_.shape)))
                o.state[p_]["exp_avg_sq"] = buf(p_, bufs.get("exp_avg_sq", np.zeros(p_.shape)))
        o.step()
        return [{"exp_avg": o.state[p_]["exp_avg"].detach().numpy().copy(),
                 "exp_avg_sq": o.state[p_]["exp_avg_sq"].detach().numpy().copy()} for p_ in params]
    if kind == "lars":
        out = []
        with torch.no_grad():
            for p_, bufs in zip(params, incoming):
                g = p_.grad
                if p_.ndim > 1:
                    g = g + h["weight_decay"] * p_
                    pn, gn = torch.linalg.vector_norm(p_), torch.linalg.vector_norm(g)
                    if pn > 0 and gn > 0:
                        g = g * (h["eta"] * pn / gn)
                mu = buf(p_, bufs["momentum_buffer"]) if "momentum_buffer" in bufs else torch.zeros_like(p_)
                mu = h["momentum"] * mu + g
                p_ -= h["lr"] * mu
                out.append({"momentum_buffer": mu.numpy().copy()})
        return out
    raise SystemExit("torch_reference.py: unknown optimizer %s" % kind)


def step(state, v1, v2, opt):
    online = build(state, "online", True)
    target = build(state, "target", False)
    online.train()
    target.train()
    v1 = torch.from_numpy(np.asarray(v1, dtype=np.float64))
    v2 = torch.from_numpy(np.asarray(v2, dtype=np.float64))
    n = v1.shape[0]
    with torch.no_grad():
        if opt["bn_views"] == "separate":
            z1, z2 = target(v1), target(v2)
        else:
            z = target(torch.cat([v1, v2]))
            z1, z2 = z[:n], z[n:]
    if opt["bn_views"] == "separate":
        p1, p2 = online(v1), online(v2)
    else:
        p = online(torch.cat([v1, v2]))
        p1, p2 = p[:n], p[n:]
    loss = byol_loss(p1, z2) + byol_loss(p2, z1)
    loss.backward()

    named = [(n_, p_) for n_, p_ in online.named_parameters()]
    grads = {"grad.online." + n_: p_.grad.detach().numpy().copy() for n_, p_ in named}
    steps_done = int(state["step"])
    kind = opt["optimizer"]
    h = {"lr": opt["lr"], "momentum": opt["momentum"], "weight_decay": opt["weight_decay"], "eta": opt["lars_eta"],
         "beta1": opt["adam_beta1"], "beta2": opt["adam_beta2"], "eps": opt["adam_eps"]}
    incoming = [{b: state["optimizer.online.%s.%s" % (n_, b)] for b in BUFFERS[kind] if "optimizer.online.%s.%s" % (n_, b) in state}
                for n_, _ in named]
    new_buffers = optimizer_step(kind, [p_ for _, p_ in named], incoming, steps_done, h)
    out_buffers = {"optimizer.online.%s.%s" % (n_, b): v for (n_, _), bufs in zip(named, new_buffers) for b, v in bufs.items()}
    tau = opt["tau"]
    with torch.no_grad():
        onl = dict(online.named_parameters())
        for n_, t in target.named_parameters():
            t.copy_(t + (1 - tau) * (onl[n_] - t))
    nxt = {}
    nxt.update(export(online, "online"))
    nxt.update(export(target, "target"))
    nxt["step"] = np.array(steps_done + 1, dtype=np.int64)
    for k, v in state.items():  # buffers of other optimizers travel unchanged
        if k.startswith("optimizer.") and k not in out_buffers:
            nxt[k] = np.asarray(v, dtype=np.float64)
    nxt.update(out_buffers)
    nxt["loss"] = np.array(loss.item(), dtype=np.float64)
    return nxt, grads


def embed(state, images, network):
    net = build(state, network, False)
    net.eval()
    with torch.no_grad():
        return net.backbone(torch.from_numpy(np.asarray(images, dtype=np.float64))).numpy().copy()


# ---------------------------------------------------------------- goldens

OPT_DEFAULTS = dict(optimizer="lars", lr=None, momentum=0.9, weight_decay=None, lars_eta=0.001,
                    adam_beta1=0.9, adam_beta2=0.999, adam_eps=1e-8, tau=0.996, bn_views="separate")


def opt_from_flags(flags):
    opt = dict(OPT_DEFAULTS)
    it = iter(flags)
    for f in it:
        key = f[2:].replace("-", "_")
        if key not in opt:
            raise SystemExit("unknown flag %s" % f)
        v = next(it)
        opt[key] = v if key in ("optimizer", "bn_views") else float(v)
    if opt["lr"] is None:
        opt["lr"] = {"lars": 0.2, "sgd": 0.05, "adam": 1e-3}[opt["optimizer"]]
    if opt["weight_decay"] is None:
        opt["weight_decay"] = 1.5e-6 if opt["optimizer"] == "lars" else 0.0
    return opt


def save(path, arrays):
    """Atomic np.savez with members in sorted order."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp.npz"
    np.savez(tmp, **{k: arrays[k] for k in sorted(arrays)})
    os.replace(tmp, path)


def run_goldens(only=None):
    with open(os.path.join(ROOT, "goldens", "MANIFEST.json")) as f:
        manifest = json.load(f)
    for case in manifest["cases"]:
        name = case["name"]
        if only and name not in only:
            continue
        d = os.path.join(ROOT, "goldens", name)
        out = os.path.join(ROOT, "goldens", "torch", name)
        digest = case["storage"] == "digest"
        if case["command"] == "step":
            state = load_npz(os.path.join(d, "input_state.npz")) if case.get("input_state") == "file" else \
                init_state(PRESETS[case["preset"]], case["init_seed"])
            opt = opt_from_flags(case["flags"])
            for k in range(1, case["steps"] + 1):
                views = load_npz(os.path.join(d, "views_%d.npz" % k))
                state, grads = step(state, views["view1"], views["view2"], opt)
                state = {k_: v for k_, v in state.items()}
                save(os.path.join(out, "expected_%d.npz" % k), digest_arrays(state) if digest else state)
                if case.get("grads"):
                    save(os.path.join(out, "grads_%d.npz" % k), digest_arrays(grads) if digest else grads)
                state.pop("loss")
        else:  # embed
            state = load_npz(os.path.join(ROOT, "goldens", case["state_file"]))
            images = load_npz(os.path.join(d, "images.npz"))["images"]
            for network in ("online", "target"):
                feats = {"features": embed(state, images, network)}
                save(os.path.join(out, "expected_%s.npz" % network), digest_arrays(feats) if digest else feats)
        print("torch reference: %s done" % name, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("goldens")
    g.add_argument("cases", nargs="*")
    s = sub.add_parser("step")
    s.add_argument("--state", required=True)
    s.add_argument("--views", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--grads")
    e = sub.add_parser("embed")
    e.add_argument("--state", required=True)
    e.add_argument("--images", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--network", default="online")
    args, rest = ap.parse_known_args()
    torch.set_num_threads(1)
    if args.cmd == "goldens":
        run_goldens(args.cases)
    elif args.cmd == "step":
        views = load_npz(args.views)
        nxt, grads = step(load_npz(args.state), views["view1"], views["view2"], opt_from_flags(rest))
        save(args.out, nxt)
        if args.grads:
            save(args.grads, grads)
    else:
        save(args.out, {"features": embed(load_npz(args.state), load_npz(args.images)["images"], args.network)})


if __name__ == "__main__":
    main()
