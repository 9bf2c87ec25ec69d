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
            if let bad {
                failure = bad
                break
            }
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
        // A stored as m x k, or k x m when transposed, rows lda apart; likewise B and C.
        // The slot after each row, where rows have slack, holds NaN: a kernel that reads
        // it, or writes C's, shows it. The rest of the slack stays untouched (calloc'd
        // pages are not faulted in: a stride of nTotal x H x W would cost 100 MB).
        let (aRows, aCols) = s.transA ? (k, m) : (m, k), (bRows, bCols) = s.transB ? (n, k) : (k, n)
        func matrix(_ rows: Int, _ cols: Int, _ ld: Int, fill: Bool) -> UnsafeMutableBufferPointer<Float> {
            let count = (rows - 1) * ld + cols + 1
            let p = calloc(count, MemoryLayout<Float>.size)!.bindMemory(to: Float.self, capacity: count)
            for r in 0..<rows {
                if fill { for q in 0..<cols { p[r * ld + q] = draw() } } else { (p + r * ld).update(repeating: .nan, count: cols) }
                if ld > cols || r == rows - 1 { p[r * ld + cols] = .nan }
            }
            return UnsafeMutableBufferPointer(start: p, count: count)
        }
        let a = matrix(aRows, aCols, s.lda, fill: true), b = matrix(bRows, bCols, s.ldb, fill: true)
        let c = matrix(m, n, s.ldc, fill: false)
        defer {
            free(a.baseAddress)
            free(b.baseAddress)
            free(c.baseAddress)
        }
        sgemm(
            transA: s.transA, transB: s.transB, m: m, n: n, k: k, a: a.baseAddress!, lda: s.lda,
            b: b.baseAddress!, ldb: s.ldb, c: c.baseAddress!, ldc: s.ldc)
        // The sampled rows of op(A) and columns of op(B), contiguous in l, in float64
        // (integers below 2^24: their products and sums are exact).
        let rows = sampled(m), cols = sampled(n)
        var opA = [Double](repeating: 0, count: rows.count * k), opB = [Double](repeating: 0, count: cols.count * k)
        for (r, i) in rows.enumerated() { for l in 0..<k { opA[r * k + l] = Double(s.transA ? a[l * s.lda + i] : a[i * s.lda + l]) } }
        for (q, j) in cols.enumerated() { for l in 0..<k { opB[q * k + l] = Double(s.transB ? b[j * s.ldb + l] : b[l * s.ldb + j]) } }
        var count = 0
        for (q, j) in cols.enumerated() {
            for (r, i) in rows.enumerated() {
                var exact = opA.withUnsafeBufferPointer { A in
                    opB.withUnsafeBufferPointer { B in
                        var sum = 0.0
                        for l in 0..<k { sum += A[r * k + l] * B[q * k + l] }
                        return sum
                    }
                }
                if corrupt && count == 0 { exact += 1 }
                count += 1
                let got = c[i * s.ldc + j]
                if !(Double(got) == exact) {
                    return (count, "sgemm \(s): C[\(i), \(j)] = \(got), exact \(Int64(exact))")
                }
            }
        }
        // Nothing written just past a row of C (where that slot is not the next row's).
        for i in rows where (s.ldc > n || i == m - 1) && !c[i * s.ldc + n].isNaN {
            return (count, "sgemm \(s): wrote past column \(n) of row \(i) of C")
        }
        return (count, nil)
    }
}
