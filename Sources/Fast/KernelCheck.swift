import CBLAS
import Foundation

/// Checks OpenBLAS's sgemm on given shapes against an exact product, before the float32
/// path trusts the kernel set. The inputs are small integers, sized per shape so that
/// every product and every partial sum is an integer below 2^24: any correct kernel, in
/// any summation order, with or without FMA, returns the exact product, so the check
/// compares for equality with no tolerance. Sampled rows and columns of each product are
/// compared (`sampled`), so the whole check takes a fraction of a second. A kernel that drops, repeats or misplaces a
/// term, mishandles an edge block or rounds its accumulator below float32 fails.
public enum KernelCheck {
    public struct Result: Sendable {
        public var passed: Bool
        public var shapes: Int
        /// Entries compared with the exact product.
        public var entries: Int
        public var seconds: Double
        /// The first mismatch: shape, index, value and the exact value.
        public var failure: String?
    }

    /// Runs every shape once. `corrupt` (a test hook) shifts one expected value, to show
    /// what a failing kernel does to the caller.
    public static func run(_ shapes: Set<GEMMShape>, corrupt: Bool = false) -> Result {
        let t0 = DispatchTime.now().uptimeNanoseconds
        openblas_set_num_threads(1)
        var entries = 0
        var failure: String?
        for (i, s) in shapes.sorted().enumerated() {
            let (count, bad) = check(s, seed: UInt64(i), corrupt: corrupt && i == 0)
            entries += count
            if let bad { failure = bad; break }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        return Result(passed: failure == nil, shapes: shapes.count, entries: entries, seconds: seconds, failure: failure)
    }

    /// The rows or columns compared out of `n`: all up to 64; else the first and last 16
    /// (where kernels handle their edge blocks) and every 61st between.
    static func sampled(_ n: Int) -> [Int] {
        if n <= 64 { return Array(0..<n) }
        return Array(0..<16) + Array(stride(from: 16, to: n - 16, by: 61)) + Array((n - 16)..<n)
    }

    /// Magnitude bits per input for a sum of k products to stay an exact float32 integer:
    /// |a|, |b| < 2^p and k < 2^lk give |sum| < 2^(2p + lk) <= 2^24.
    static func inputBits(k: Int) -> Int {
        var lk = 0
        while (1 << lk) < k + 1 { lk += 1 }
        return max(1, (24 - lk) / 2)
    }

    static func check(_ s: GEMMShape, seed: UInt64, corrupt: Bool) -> (Int, String?) {
        let (m, n, k) = (s.m, s.n, s.k)
        let p = inputBits(k: k)
        var state = 0x9E37_79B9_7F4A_7C15 &* (seed &+ 1) ^ UInt64(m * 1_000_003 + n * 1009 + k)
        func draw() -> Float {
            // splitmix64 -> an integer in (-2^p, 2^p)
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            z ^= z >> 31
            let span = UInt64(1) << UInt64(p + 1)
            return Float(Int64(z % (span - 1)) - Int64(span / 2 - 1))
        }
        // A [m, k] stored as op(A): m x k, or k x m when transposed; likewise B.
        let a = (0..<(m * k)).map { _ in draw() }
        let b = (0..<(k * n)).map { _ in draw() }
        var c = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { A in b.withUnsafeBufferPointer { B in c.withUnsafeMutableBufferPointer { C in
            sgemm(transA: s.transA, transB: s.transB, m: m, n: n, k: k, a: A.baseAddress!, lda: s.transA ? m : k,
                  b: B.baseAddress!, ldb: s.transB ? k : n, c: C.baseAddress!, ldc: n)
        } } }
        // The sampled rows of op(A) and columns of op(B), contiguous in l, in float64
        // (integers below 2^24: their products and sums are exact).
        let rows = sampled(m), cols = sampled(n)
        var opA = [Double](repeating: 0, count: rows.count * k), opB = [Double](repeating: 0, count: cols.count * k)
        for (r, i) in rows.enumerated() { for l in 0..<k { opA[r * k + l] = Double(s.transA ? a[l * m + i] : a[i * k + l]) } }
        for (q, j) in cols.enumerated() { for l in 0..<k { opB[q * k + l] = Double(s.transB ? b[j * k + l] : b[l * n + j]) } }
        var count = 0
        for (q, j) in cols.enumerated() {
            for (r, i) in rows.enumerated() {
                var exact = opA.withUnsafeBufferPointer { A in opB.withUnsafeBufferPointer { B in
                    var sum = 0.0
                    for l in 0..<k { sum += A[r * k + l] * B[q * k + l] }
                    return sum
                } }
                if corrupt && count == 0 { exact += 1 }
                count += 1
                let got = c[i * n + j]
                if !(Double(got) == exact) {
                    return (count, "sgemm \(s): C[\(i), \(j)] = \(got), exact \(Int64(exact))")
                }
            }
        }
        return (count, nil)
    }
}
