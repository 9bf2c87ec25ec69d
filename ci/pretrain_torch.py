#!/usr/bin/env python3
"""BYOL pretraining on CIFAR-10 in plain PyTorch, float32, for comparison with
`byol pretrain`: the same architecture, initialization, optimizer, schedules, loss and
kNN monitor as docs/contract.md states them, but PyTorch's own kernels, torchvision v2's own
augmentation pipeline (its random streams, not the project's Philox draws) and a
torch.utils.data shuffle. What it measures is how far two faithful implementations of
the recipe drift apart through their random streams alone: the yardstick for the
per-epoch kNN numbers of issue 6.

Usage, from the repository root (needs torch and torchvision; CI never runs it):
    ~/venv-torch/bin/python ci/pretrain_torch.py --data cifar-10-binary.tar.gz \
        [--preset small] [--epochs 2] [--batch 256] [--lr 0.12] [--seed 0] [--threads 2] \
        [--bn-views separate|joint] [--init project|torchvision] [--limit N] [--out run.jsonl]
        [--byol .build/release/byol --max-steps 50]

Recipe (the defaults): SGD lr 0.12, momentum 0.9, weight decay 5e-4 on every online
parameter, cosine decay per step to 0, no warm-up; tau from 0.99 to 1 by cosine per
step; the `cifar` augmentation (crop scale 0.08-1, flip, colour jitter 0.4/0.4/0.2/0.1
with p 0.8, grayscale p 0.2, solarize p 0 / 0.2, no blur); loss = both cross-view
terms, each a batch mean; batches of 256 with the last partial batch dropped; after
each epoch the weighted kNN (online backbone, eval mode, bank = the train set with the
test transform, cosine similarity, k 200, T 0.1). One JSON object per epoch goes to
stdout and, with --out, to a JSONL file.
"""
import argparse
import io
import json
import math
import os
import sys
import tarfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms import v2

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from byol_arch import PRESETS, init_state  # noqa: E402
from torch_reference import Network, byol_loss  # noqa: E402

MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


def read_cifar(path):
    """(train images uint8 [50000, 3, 32, 32], labels, test images, labels) from the
    official binary archive: records of 1 label byte + 3072 pixel bytes."""
    files = {}
    with tarfile.open(path, "r:gz") as tar:
        for m in tar.getmembers():
            if m.isfile() and m.name.endswith(".bin"):
                files[os.path.basename(m.name)] = tar.extractfile(m).read()

    def records(names):
        raw = np.frombuffer(b"".join(files[n] for n in names), dtype=np.uint8).reshape(-1, 3073)
        return raw[:, 1:].reshape(-1, 3, 32, 32).copy(), raw[:, 0].astype(np.int64)
    xtr, ytr = records(["data_batch_%d.bin" % i for i in range(1, 6)])
    xte, yte = records(["test_batch.bin"])
    return xtr, ytr, xte, yte


def view_transform(p_solarize):
    return v2.Compose([
        v2.RandomResizedCrop(32, scale=(0.08, 1.0), ratio=(3 / 4, 4 / 3), antialias=True),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.2, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.RandomSolarize(threshold=0.5, p=p_solarize) if p_solarize > 0 else v2.Identity(),
        v2.Normalize(MEAN, STD),
    ])


def byol_permutation(n, seed, epoch):
    """`byol pretrain`'s batch order: Fisher-Yates from the last index down, on the
    uniforms of Philox key [seed, 3], counter [0, epoch, 0, 0] (NumPy's convention)."""
    g = np.random.Generator(np.random.Philox(key=np.array([seed, 3], dtype=np.uint64),
                                             counter=np.array([0, epoch, 0, 0], dtype=np.uint64)))
    p = np.arange(n)
    u = g.random(n)
    for k, i in enumerate(range(n - 1, 0, -1)):
        j = int(np.floor(u[k] * (i + 1)))
        p[i], p[j] = p[j], p[i]
    return p


def byol_batches(binary, images, seed, epoch, batch, workdir):
    """The (view1, view2) batches of `byol pretrain` for one epoch, from `byol augment`."""
    import subprocess
    perm = byol_permutation(len(images), seed, epoch)
    for b in range(len(images) // batch):
        idx = perm[b * batch:(b + 1) * batch]
        src, dst = os.path.join(workdir, "batch.npz"), os.path.join(workdir, "views.npz")
        np.savez(src, images=images[idx], indices=idx.astype(np.int64))
        subprocess.run([binary, "augment", "--seed", str(seed), "--epoch", str(epoch), "--images", src, "--out", dst],
                       check=True, stdout=subprocess.DEVNULL)
        with np.load(dst) as f:
            yield torch.from_numpy(f["view1"].astype(np.float32)), torch.from_numpy(f["view2"].astype(np.float32))


class TwoViews(torch.utils.data.Dataset):
    def __init__(self, images):
        self.images = torch.from_numpy(images)
        self.t1, self.t2 = view_transform(0.0), view_transform(0.2)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        x = self.images[i].float() / 255
        return self.t1(x), self.t2(x)


def torchvision_init(net):
    """torchvision's ResNet initialization, as an alternative hypothesis: conv weights
    kaiming_normal (fan_out, relu), BN weight 1 / bias 0, linear layers PyTorch's default."""
    for m in net.modules():
        if isinstance(m, torch.nn.Conv2d):
            torch.nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


@torch.no_grad()
def features(backbone, images, batch=1000):
    backbone.eval()
    mean, std = torch.tensor(MEAN).view(1, 3, 1, 1), torch.tensor(STD).view(1, 3, 1, 1)
    out = [backbone((torch.from_numpy(images[i:i + batch]).float() / 255 - mean) / std) for i in range(0, len(images), batch)]
    backbone.train()
    return F.normalize(torch.cat(out), dim=1, eps=1e-12)


@torch.no_grad()
def knn_accuracy(backbone, xtr, ytr, xte, yte, k=200, temperature=0.1, classes=10):
    bank, queries = features(backbone, xtr), features(backbone, xte)
    labels = torch.from_numpy(ytr)
    correct = 0
    for i in range(0, len(queries), 500):
        sim = queries[i:i + 500] @ bank.T
        top, idx = sim.topk(k, dim=1)
        scores = torch.zeros(len(top), classes).scatter_add_(1, labels[idx], (top / temperature).exp())
        correct += (scores.argmax(1) == torch.from_numpy(yte[i:i + 500])).sum().item()
    return correct / len(queries)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", required=True)
    ap.add_argument("--preset", default="small", choices=sorted(PRESETS))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=0.12)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--tau-base", type=float, default=0.99)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bn-views", default="separate", choices=["separate", "joint"])
    ap.add_argument("--init", default="project", choices=["project", "torchvision"])
    ap.add_argument("--limit", type=int, default=0, help="first N train and N/5 test images only (a smoke test)")
    ap.add_argument("--byol", help="a byol binary: take each step's batch from byol pretrain's permutation and its views from "
                    "`byol augment`, so that both implementations see the same inputs (for comparing loss curves)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after N steps (with --byol: a loss-curve comparison)")
    ap.add_argument("--out")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    xtr, ytr, xte, yte = read_cifar(a.data)
    if a.limit:
        xtr, ytr, xte, yte = xtr[:a.limit], ytr[:a.limit], xte[:a.limit // 5], yte[:a.limit // 5]
    arch = PRESETS[a.preset]
    state = init_state(arch, a.seed)
    online, target = Network(arch, True), Network(arch, False)
    for net, prefix in ((online, "online"), (target, "target")):
        net.load_state_dict({k: torch.from_numpy(np.array(state[prefix + "." + k], dtype=np.int64 if state[prefix + "." + k].dtype.kind == "i" else np.float32))
                             for k in net.state_dict()})
    if a.init == "torchvision":
        torchvision_init(online)
        target.load_state_dict({k: v for k, v in online.state_dict().items() if not k.startswith("predictor.")})
    for p in target.parameters():
        p.requires_grad_(False)
    opt = torch.optim.SGD(online.parameters(), lr=a.lr, momentum=a.momentum, weight_decay=a.weight_decay)

    loader = torch.utils.data.DataLoader(TwoViews(xtr), batch_size=a.batch, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(a.seed))
    total = a.epochs * len(loader)
    log = open(a.out, "w") if a.out else None

    def emit(record):
        line = json.dumps(record)
        print(line, flush=True)
        if log:
            log.write(line + "\n")
            log.flush()

    emit(dict(epoch=0, knn_accuracy=None if a.max_steps else knn_accuracy(online.backbone, xtr, ytr, xte, yte), flags=vars(a)))
    step = 0
    workdir = None
    if a.byol:
        import tempfile
        workdir = tempfile.mkdtemp()
    for epoch in range(1, a.epochs + 1):
        t0, images, losses = time.time(), 0, []
        batches = byol_batches(a.byol, xtr, a.seed, epoch - 1, a.batch, workdir) if a.byol else loader
        for v1, v2_ in batches:
            if a.max_steps and step >= a.max_steps:
                return
            for g in opt.param_groups:
                g["lr"] = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            tau = 1 - (1 - a.tau_base) * (math.cos(math.pi * step / total) + 1) / 2
            if a.bn_views == "separate":
                p1, p2 = online(v1), online(v2_)
                with torch.no_grad():
                    z1, z2 = target(v1), target(v2_)
            else:
                p1, p2 = online(torch.cat([v1, v2_])).chunk(2)
                with torch.no_grad():
                    z1, z2 = target(torch.cat([v1, v2_])).chunk(2)
            loss = byol_loss(p1, z2) + byol_loss(p2, z1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                # Parameters only: each network keeps its own BN running statistics.
                on = dict(online.named_parameters())
                for name, t in target.named_parameters():
                    t.mul_(tau).add_(on[name], alpha=1 - tau)
            step += 1
            images += len(v1)
            losses.append(loss.item())
            if a.byol:
                emit(dict(step=step, loss=loss.item(), lr=opt.param_groups[0]["lr"], tau=tau))
            if step % 20 == 0:
                print("epoch %d step %d/%d loss %.4f %.1f img/s" % (epoch, step, total, loss.item(), images / (time.time() - t0)),
                      file=sys.stderr, flush=True)
        train_seconds = time.time() - t0
        acc = knn_accuracy(online.backbone, xtr, ytr, xte, yte)
        emit(dict(epoch=epoch, knn_accuracy=acc, loss=float(np.mean(losses[-20:])), images_per_second=images / train_seconds,
                  train_seconds=train_seconds, seconds=time.time() - t0))


if __name__ == "__main__":
    main()
