#!/usr/bin/env python3
"""A NumPy implementation of `byol knn` (docs/contract.md §3) and the fixtures that check
it: Fixtures/knn/<case>.npz holds `bank_features`, `bank_labels`, `query_features`,
`query_labels`, `k`, `temperature`, `classes` and the expected `predictions`, `scores`,
`accuracy`.

Cases: random features; tie-heavy features (duplicated bank rows and few distinct
directions, so that the top-k cut and the argmax both meet exact ties); k larger than
the bank; a zero feature vector (normalized with eps 1e-12).

Run from the repository root:  python3 ci/knn_reference.py  (needs numpy).
"""
import os

import numpy as np

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "knn")


def knn(bank, bank_labels, queries, query_labels, k, T, C):
    def normalize(x):
        return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    b, q = normalize(bank), normalize(queries)
    s = q @ b.T                                          # [M, N]
    k = min(k, b.shape[0])
    preds, scores = [], []
    for i in range(q.shape[0]):
        # Higher similarity first; ties broken by lower bank index (stable sort on -s).
        order = np.argsort(-s[i], kind="stable")[:k]
        sc = np.zeros(C)
        for j in order:
            sc[bank_labels[j]] += np.exp(s[i, j] / T)
        scores.append(sc)
        preds.append(int(np.argmax(sc)))                 # first maximum: lower class
    preds = np.array(preds, dtype=np.int64)
    acc = np.array(np.mean(preds == query_labels), dtype=np.float64)
    return preds, np.array(scores), acc


def write(name, bank, bl, queries, ql, k, T, C):
    p, sc, acc = knn(bank, bl, queries, ql, k, T, C)
    np.savez(os.path.join(OUT, name + ".npz"), bank_features=bank, bank_labels=bl, query_features=queries,
             query_labels=ql, k=np.array(k, dtype=np.int64), temperature=np.array(T), classes=np.array(C, dtype=np.int64),
             predictions=p, scores=sc, accuracy=acc)


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(0)
    # Random: 300 bank entries, 10 classes, 40 queries, F = 16.
    write("random", rng.normal(size=(300, 16)), rng.integers(0, 10, 300).astype(np.int64),
          rng.normal(size=(40, 16)), rng.integers(0, 10, 40).astype(np.int64), 20, 0.1, 10)
    # Tie-heavy: 4 distinct directions (integer vectors), each repeated in the bank
    # with different labels; queries equal to those directions.
    dirs = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 2]], dtype=np.float64)
    bank = np.repeat(dirs, 6, axis=0)
    bl = np.array([0, 1, 2, 1, 0, 2] * 4, dtype=np.int64)
    queries = np.concatenate([dirs, dirs * 3, [[1, 1, 1]]])
    ql = np.array([0, 1, 2, 0, 1, 0, 2, 1, 0], dtype=np.int64)
    for k in (1, 2, 3, 4, 5, 7, 12):
        write("ties_k%d" % k, bank, bl, queries, ql, k, 0.5, 3)
    # k larger than the bank, and a zero query vector.
    write("k_above_n", rng.normal(size=(5, 4)), np.array([0, 1, 1, 2, 0], dtype=np.int64),
          np.concatenate([rng.normal(size=(3, 4)), np.zeros((1, 4))]), np.array([1, 0, 2, 0], dtype=np.int64), 200, 0.07, 3)


if __name__ == "__main__":
    main()
