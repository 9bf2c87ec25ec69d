import Testing

@testable import Fast

/// The lane-parallel float64 sums behind float32 BN: same value as an index-order sum
/// (up to float64 re-association), every tail length handled, the ReLU mask applied.
@Suite struct LaneSumTests {
    /// Deterministic floats in [-1, 1) with a few exact zeros.
    static func values(_ n: Int, seed: UInt64) -> [Float] {
        var s = seed
        return (0..<n).map { i in
            s = s &* 6364136223846793005 &+ 1442695040888963407
            return i % 11 == 3 ? 0 : Float(Double(s >> 40) / Double(1 << 24) * 2 - 1)
        }
    }

    @Test(arguments: [0, 1, 7, 8, 9, 15, 16, 17, 1001])
    func sumsMatchIndexOrder(n: Int) {
        let x = Self.values(n, seed: UInt64(n) + 1)
        let mean = 0.125
        var plain = 0.0, plainSq = 0.0, absSum = 0.0
        for v in x {
            plain += Double(v)
            plainSq += (Double(v) - mean) * (Double(v) - mean)
            absSum += abs(Double(v)) + 1
        }
        // Each float term is exact in float64; only the order of n <= 1001 additions differs.
        let bound = 1e-13 * absSum
        x.withUnsafeBufferPointer { p in
            let base = p.baseAddress ?? UnsafePointer(bitPattern: 16)!
            #expect(abs(LaneSum.sum(base, count: n) - plain) <= bound)
            #expect(abs(LaneSum.squaredDeviations(base, count: n, mean: mean) - plainSq) <= bound * 4)
        }
    }

    @Test(arguments: [5, 8, 37])
    func backwardSumsMaskInPlace(n: Int) {
        var dy = Self.values(n, seed: 7), mask = Self.values(n, seed: 8)
        let x = Self.values(n, seed: 9)
        mask[0] = -0.0
        if n > 6 { mask[6] = .nan }
        let (mean, inv) = (0.1, 2.0)
        var expectedDy = dy
        var sumDy = 0.0, sumDyXhat = 0.0
        for i in 0..<n {
            if !(mask[i] > 0) { expectedDy[i] = 0 }
            sumDy += Double(expectedDy[i])
            sumDyXhat += Double(expectedDy[i]) * ((Double(x[i]) - mean) * inv)
        }
        let (a, b) = dy.withUnsafeMutableBufferPointer { d in
            mask.withUnsafeBufferPointer { m in
                x.withUnsafeBufferPointer { xp in
                    LaneSum.backwardSums(d.baseAddress!, mask: m.baseAddress!, x: xp.baseAddress!, count: n, mean: mean, invStd: inv)
                }
            }
        }
        #expect(dy == expectedDy)
        // Same re-association argument as above, on terms of size <= 1 and <= 2.2 inv.
        #expect(abs(a - sumDy) <= 1e-13 * Double(n + 1))
        #expect(abs(b - sumDyXhat) <= 1e-13 * Double(n + 1) * 3 * inv)
    }
}
