import BYOLModel

/// Rounding noise for Monte Carlo error propagation through whole steps and embeds
/// (Verification/StepBounds, docs/design.md "Error bounds"). Off unless a caller binds
/// `RoundingNoise.current`: the reference then computes exactly what it always does.
///
/// A recording pass visits the rounding sites of a step (each layer's outputs, forward
/// and backward, the residual sums, each update and EMA; the sum of the two views'
/// gradients is left to the bound's storage term) in program order and keeps, per output element, the
/// standard deviations its local error model implies: bound / lambda for float32
/// arithmetic (`accumulation`), and v + w per unit of operand and product roundoff
/// (`operand`), each well above the true deviation. Perturbed passes then add seeded noise of those deviations at the
/// same sites; the spread of the step's outputs over several passes is the propagated
/// error, through BatchNorm's cancellations, LARS's norms and every later layer.
public final class RoundingNoise: @unchecked Sendable {
    public enum Mode: Sendable {
        case record
        /// Float32 arithmetic's noise, at its own scale.
        case accumulation
        /// Operand and product rounding's noise, scaled by `epsilon` (a small unit roundoff
        /// that keeps the perturbation in the linear regime); deviations divide by it.
        case operand(epsilon: Double)
    }

    @TaskLocal public static var current: RoundingNoise?

    /// Whether a recording pass is running: sites that compute several outputs' error
    /// terms at once do so only then (perturbed passes replay the recorded deviations).
    public static var recording: Bool { if case .record? = current?.mode { return true } else { return false } }

    public let mode: Mode
    /// Per site, in visiting order: deviations of float32 arithmetic and of unit operand
    /// rounding for each element.
    public private(set) var sites: [(accumulation: [Double], operand: [Double])]
    /// The smallest |input| of every ReLU the recording pass evaluated: how far the
    /// computation stays from a kink, where rounding could flip a unit.
    public private(set) var reluMargin = Double.infinity
    private var next = 0
    private var stream: PhiloxStream

    /// A recording pass.
    public init() {
        mode = .record
        sites = []
        stream = PhiloxStream(seed: 0, .caseDraws, counter: (0, 0, 0, 0))
    }

    /// A perturbed pass over the sites of `recorded`, with draws from `seed`.
    public init(replaying recorded: RoundingNoise, mode: Mode, seed: UInt64) {
        self.mode = mode
        sites = recorded.sites
        stream = PhiloxStream(seed: seed, .caseDraws, counter: (0, 0x4E_4F49_5345, 0, 0))
    }

    /// The reference calls this at each rounding site with the values it just computed
    /// and (only evaluated while recording) their error terms.
    public static func site(_ values: inout [Double], _ terms: @autoclosure () -> ErrorTerms) {
        guard let noise = current else { return }
        noise.visit(&values, terms)
    }

    /// A ReLU's inputs: the recording pass keeps the smallest magnitude.
    public static func kinks(_ inputs: [Double]) {
        guard let noise = current, case .record = noise.mode else { return }
        for v in inputs { noise.reluMargin = min(noise.reluMargin, Swift.abs(v)) }
    }

    /// A scalar site (a loss).
    public static func site(_ value: inout Double, _ terms: @autoclosure () -> ErrorTerms) {
        guard let noise = current else { return }
        var v = [value]
        noise.visit(&v, terms)
        value = v[0]
    }

    private func visit(_ values: inout [Double], _ terms: () -> ErrorTerms) {
        switch mode {
        case .record:
            let t = terms()
            precondition(t.a.count == values.count, "error terms of \(t.a.count) elements for \(values.count) values")
            let f32 = Tier.float32
            // Operand noise at v + w itself, not over lambda: about ten times the true
            // deviation of operand rounding (v is 8 ||p||_2 against 0.82 ||p||_2), so that
            // the few passes of the larger presets cannot underestimate it (accumulation's
            // bound / lambda is already some thirty times its true deviation).
            sites.append((t.bound(f32).map { $0 / ErrorTerms.lambda }, zip(t.v, t.w).map { $0 + $1 }))
        case .accumulation, .operand:
            precondition(next < sites.count && sites[next].accumulation.count == values.count, "a perturbed pass left the recorded path")
            let scale: Double
            let sigma: [Double]
            if case .operand(let epsilon) = mode {
                (scale, sigma) = (epsilon, sites[next].operand)
            } else {
                (scale, sigma) = (1, sites[next].accumulation)
            }
            for i in values.indices where sigma[i] != 0 {
                // Uniform on [-sqrt 3, sqrt 3): unit variance, bounded.
                values[i] += scale * sigma[i] * (stream.uniform(-1, 1) * 1.7320508075688772)
            }
            next += 1
        }
    }
}
