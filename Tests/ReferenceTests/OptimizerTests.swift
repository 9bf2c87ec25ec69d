import BYOLModel
import Foundation
import Reference
import Testing

/// Optimizer updates on hand-computed two-element cases.
@Suite struct Optimizers {
    let p = [1.0, -2.0]
    let g = [0.5, 0.25]

    @Test func sgdFirstStepBufferIsTheGradient() {
        let c = OptimizerConfig(kind: .sgd, lr: 0.1, momentum: 0.9, weightDecay: 0.01)
        let (q, b) = Optimizer.update(p, grad: g, buffers: [:], isMatrix: true, step: 0, config: c)
        let d = [0.5 + 0.01, 0.25 - 0.02]
        #expect(b["momentum_buffer"] == d)
        #expect(q == [1 - 0.1 * d[0], -2 - 0.1 * d[1]])
        let (q2, b2) = Optimizer.update(q, grad: g, buffers: b, isMatrix: true, step: 1, config: c)
        let d2 = [0.5 + 0.01 * q[0], 0.25 + 0.01 * q[1]]
        #expect(b2["momentum_buffer"] == [0.9 * d[0] + d2[0], 0.9 * d[1] + d2[1]])
        #expect(q2[0] == q[0] - 0.1 * b2["momentum_buffer"]![0])
    }

    @Test func larsScalesMatricesOnly() {
        let c = OptimizerConfig(kind: .lars, lr: 0.2, momentum: 0.9, weightDecay: 0.1, larsEta: 0.001)
        // Matrix: d = g + wd p = (0.6, 0.05); ||p|| = sqrt(5), ||d|| = sqrt(0.3625).
        let (q, b) = Optimizer.update(p, grad: g, buffers: [:], isMatrix: true, step: 0, config: c)
        let trust = 0.001 * 5.0.squareRoot() / 0.3625.squareRoot()
        let mu = b["momentum_buffer"]!
        // 1e-18: 2 ulps of mu[0] ~ 2.2e-3 (ulp 4.3e-19); the norms and the trust ratio round in another order here (5e-20 seen).
        #expect(abs(mu[0] - 0.6 * trust) < 1e-18 && abs(mu[1] - 0.05 * trust) < 1e-18)
        #expect(q == [p[0] - 0.2 * mu[0], p[1] - 0.2 * mu[1]])
        // Bias / BN parameter: the gradient unchanged, no weight decay.
        let (qb, bb) = Optimizer.update(p, grad: g, buffers: ["momentum_buffer": [1, 1]], isMatrix: false, step: 3, config: c)
        #expect(bb["momentum_buffer"] == [0.9 + 0.5, 0.9 + 0.25])
        #expect(qb == [1 - 0.2 * 1.4, -2 - 0.2 * 1.15])
        // Zero parameter norm: no trust scaling.
        let (_, bz) = Optimizer.update([0, 0], grad: g, buffers: [:], isMatrix: true, step: 0, config: c)
        #expect(bz["momentum_buffer"] == g)
    }

    @Test func adamBiasCorrectionUsesStepPlusOne() {
        let c = OptimizerConfig(kind: .adam, lr: 0.01, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEps: 1e-8)
        // First step: m_hat = g, v_hat = g^2, so the update is lr * g / (|g| + eps) ~ lr * sign(g).
        let (q, b) = Optimizer.update(p, grad: g, buffers: [:], isMatrix: true, step: 0, config: c)
        // 1e-15: a handful of float64 operations on an O(1) value: under 10 ulps of 1 (1.1e-16 each; exact here).
        #expect(abs(q[0] - (1 - 0.01 * 0.5 / (0.5 + 1e-8))) < 1e-15)
        // 1e-16: 1 - 0.9 is 0.1 less 2.8e-17 in binary, so m is 0.05 less 1.4e-17 (seen); the bound is 14 ulps of 0.05.
        #expect(abs(b["exp_avg"]![0] - 0.05) < 1e-16)
        // 1e-19: 1 - 0.999 is 0.001 plus 8.7e-19 in binary, times 0.0625: 5.4e-20 off (seen), 4 of v's ulps (1.4e-20); 7 allowed.
        #expect(abs(b["exp_avg_sq"]![1] - 0.001 * 0.0625) < 1e-19)
        // A later step with given moments: t = step + 1 = 5.
        let m = [0.2, -0.1], v = [0.04, 0.01]
        let (q5, _) = Optimizer.update(p, grad: g, buffers: ["exp_avg": m, "exp_avg_sq": v], isMatrix: false, step: 4, config: c)
        let m1 = 0.9 * 0.2 + 0.1 * 0.5, v1 = 0.999 * 0.04 + 0.001 * 0.25
        let expected = 1 - 0.01 / (1 - pow(0.9, 5)) * m1 / (v1.squareRoot() / (1 - pow(0.999, 5)).squareRoot() + 1e-8)
        // 1e-15: about a dozen float64 operations (pow, sqrt, divisions) on an O(1) value: under 10 ulps of 1 (exact here).
        #expect(abs(q5[0] - expected) < 1e-15)
    }
}

@Suite struct Schedules {
    @Test func tauClosedForm() {
        #expect(Schedule.tau(step: 0, total: 100, base: 0.996) == 0.996)
        // 1e-15: cos(pi / 2) is 6.1e-17 in float64, not 0, and tau ~ 1 rounds to its ulp (1.1e-16): a few ulps (exact here).
        #expect(abs(Schedule.tau(step: 50, total: 100, base: 0.996) - 0.998) < 1e-15)
        #expect(Schedule.tau(step: 100, total: 100, base: 0.996) == 1)
        // Monotone non-decreasing.
        let taus = (0...100).map { Schedule.tau(step: $0, total: 100, base: 0.99) }
        #expect(zip(taus, taus.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func learningRateWarmupThenCosine() {
        #expect(Schedule.learningRate(step: 0, total: 100, warmup: 10, base: 2) == 0)
        #expect(Schedule.learningRate(step: 5, total: 100, warmup: 10, base: 2) == 1)
        #expect(Schedule.learningRate(step: 10, total: 100, warmup: 10, base: 2) == 2)
        // 1e-15: 2 (1 + cos(pi / 2)) / 2 with cos(pi / 2) = 6.1e-17 in float64: 1 within an ulp or two (exact here).
        #expect(abs(Schedule.learningRate(step: 55, total: 100, warmup: 10, base: 2) - 1) < 1e-15)
        // 1e-15: 1 + cos(pi) at the end of the decay: 0 up to the rounding of an O(1) sum (exact here: cos(pi) is -1).
        #expect(abs(Schedule.learningRate(step: 100, total: 100, warmup: 10, base: 2)) < 1e-15)
        #expect(Schedule.learningRate(step: 3, total: 3, warmup: 3, base: 2) == 2)
    }

    /// K EMA updates with constant tau equal the closed form
    /// target_K = tau^K target_0 + sum_k (1 - tau) tau^(K - k) online_k.
    @Test func emaEqualsClosedFormWeightedSum() {
        let tau = 0.9
        let online: [[Double]] = (1...12).map { k in [sin(Double(k)), Double(k) * 0.1] }
        var target = [0.5, -1.0]
        for o in online { target = EMA.update(target: target, online: o, tau: tau) }
        for j in 0..<2 {
            var closed = pow(tau, 12) * [0.5, -1.0][j]
            for (k, o) in online.enumerated() { closed += (1 - tau) * pow(tau, Double(12 - (k + 1))) * o[j] }
            // 1e-14: 12 EMA updates against a sum of 13 pow-weighted O(1) terms, each side rounding tens of times: 90 ulps of 1 (5.6e-17 seen).
            #expect(abs(target[j] - closed) < 1e-14)
        }
    }
}
