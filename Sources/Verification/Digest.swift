import NumPyIO

/// Compact digests of large tensors for goldens (ci/digest.py computes the same): a float
/// array X of n elements becomes `X.digest`, float64 [3 + m]: its sum, L2 norm and max
/// |x|, then the m = min(n, 64) elements at flat indices (k * (n - 1)) / 63, k = 0..63
/// (all of them when n <= 64). Integer arrays are kept whole.
public enum Digest {
    public static func sampleIndices(_ n: Int) -> [Int] {
        n <= 64 ? Array(0..<n) : (0..<64).map { $0 * (n - 1) / 63 }
    }

    public static func arrays(_ arrays: [(name: String, array: NDArray)]) -> [(name: String, array: NDArray)] {
        var out: [(name: String, array: NDArray)] = []
        for (name, a) in arrays {
            guard a.isFloat else {
                out.append((name, a))
                continue
            }
            let v = a.doubles
            var sum = 0.0, sq = 0.0, maxAbs = 0.0
            for x in v {
                sum += x
                sq += x * x
                maxAbs = max(maxAbs, abs(x))
            }
            let idx = sampleIndices(v.count)
            out.append((name + ".digest", NDArray(float64: [sum, sq.squareRoot(), maxAbs] + idx.map { v[$0] }, shape: [3 + idx.count])))
        }
        return out
    }
}
