import Reference
import Testing
import Verification

@testable import Fast

/// FastBN.backward's dxSum: sum(dx) per channel, the gradient of a bias just before a
/// train-mode BN. It is 0 in exact arithmetic; evaluated in float64 from the BN's sums
/// it stays at float64 rounding (the reference's level), where summing the float32 dx
/// leaves noise that Adam would turn into steps of about lr.
@Suite struct BatchNormSumTests {
    @Test func dxSumCancelsToFloat64Rounding() {
        let (channels, groups, m) = (6, 2, 12)  // two BN batches per channel, as with separate views
        let len = groups * m
        var rng = CaseDraws(seed: 21)
        let f = { (t: Tensor) in t.data.map(Float.init) }
        let x = f(rng.tensor([channels * len], -1, 3))
        let mask = f(rng.tensor([channels * len], -1, 1))  // a fused ReLU's output: dy passes where > 0
        var dy = f(rng.tensor([channels * len], -1, 1))
        let gamma = f(rng.tensor([channels], 0.5, 1.5)), beta = [Float](repeating: 0.1, count: channels)
        var y = [Float](repeating: 0, count: x.count), dx = y
        var dgamma = [Float](repeating: 0, count: channels), dbeta = dgamma, dxSum = dgamma
        var stats = FastBN.Stats(channels: channels, groups: groups)
        let pool = WorkerPool(workers: 2)
        let seg = Segments(images: len, bnBatches: groups)
        FastBN.forwardTrain(
            x, &y, channels: channels, hw: 1, seg: seg, gamma: gamma, beta: beta, residual: nil, relu: false,
            stats: &stats, reduction: nil, pool: pool)
        FastBN.backward(
            &dy, reluOut: mask, x, &dx, channels: channels, hw: 1, seg: seg, gamma: gamma, stats: stats,
            dgamma: &dgamma, dbeta: &dbeta, dxSum: &dxSum, reduction: nil, pool: pool)
        var float32Sums: [Double] = []
        for c in 0..<channels {
            let row = dx[c * len..<(c + 1) * len]
            let scale = row.map { Double(abs($0)) }.reduce(0, +)
            // A few float64 roundings of terms the size of the row: 1e-12 of it.
            #expect(abs(Double(dxSum[c])) <= 1e-12 * scale, "channel \(c): \(dxSum[c]) against \(scale)")
            float32Sums.append(abs(Double(row.reduce(Float(0), +))) / scale)
        }
        // Not vacuous: summing the float32 dx leaves far more than that.
        #expect(float32Sums.max()! > 1e-10, "\(float32Sums)")
    }
}
