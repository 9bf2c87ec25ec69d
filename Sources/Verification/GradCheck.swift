import Reference

/// Central finite-difference gradient checks in float64 (docs/design.md, tolerance policy).
///
/// A case is a scalar objective of some named input tensors together with the analytic
/// gradient of each. For every checked element x_i the checker evaluates the objective
/// at x_i + h and x_i - h, h = 1e-6 * max(1, |x_i|), and requires
/// |analytic - numeric| <= 1e-6 * max(1, |numeric|).
///
/// Central differences are wrong across a ReLU kink, so the objective also reports every
/// ReLU input; the checker requires each perturbed evaluation to keep the sign pattern
/// of all of them. A case that would cross a kink fails as invalid rather than passing
/// or failing on a meaningless number.
public struct GradCheck {
    /// Pass bound on |analytic - numeric| / max(1, |numeric|): truncation error of a
    /// central difference at h ~ 1e-6 is O(h^2) ~ 1e-12, round-off ~ 1e-16 / h ~ 1e-10.
    public static let tolerance = 1e-6
    /// Relative step of the central difference.
    public static let relativeStep = 1e-6

    /// Objective value and the ReLU inputs of that evaluation.
    public typealias Objective = (_ inputs: [String: Tensor]) -> (value: Double, reluInputs: [Tensor])

    public struct Case {
        public var name: String
        public var inputs: [(name: String, tensor: Tensor)]
        public var objective: Objective
        /// Analytic gradients, one per input name.
        public var analytic: [String: Tensor]

        public init(name: String, inputs: [(name: String, tensor: Tensor)], analytic: [String: Tensor], objective: @escaping Objective) {
            self.name = name
            self.inputs = inputs
            self.analytic = analytic
            self.objective = objective
        }
    }

    /// The worst element of one input tensor.
    public struct TensorResult: Sendable {
        public var tensor: String
        public var checked: Int
        public var maxAbsError: Double
        public var maxRelError: Double  // |a - n| / max(1, |n|), the quantity bounded
        public var worstIndex: Int
        public var worstAnalytic: Double
        public var worstNumeric: Double
        /// Flat index of the first perturbation that flipped a ReLU input, if any.
        public var kinkCrossedAt: Int?
        public var passed: Bool { kinkCrossedAt == nil && maxRelError <= GradCheck.tolerance }
    }

    public struct CaseResult: Sendable {
        public var name: String
        public var tensors: [TensorResult]
        /// Smallest |ReLU input| of the unperturbed evaluation (infinity if no ReLU).
        public var minReluMargin: Double
        public var passed: Bool { tensors.allSatisfy(\.passed) }
        public var maxAbsError: Double { tensors.map(\.maxAbsError).max() ?? 0 }
        public var maxRelError: Double { tensors.map(\.maxRelError).max() ?? 0 }

        /// One line per failing tensor: name, index, analytic and numeric values.
        public var failures: [String] {
            tensors.filter { !$0.passed }.map { t in
                if let k = t.kinkCrossedAt {
                    return "\(name): \(t.tensor)[\(k)]: perturbation crosses a ReLU kink; the case is not valid for finite differences"
                }
                return
                    "\(name): \(t.tensor)[\(t.worstIndex)]: analytic \(t.worstAnalytic) vs numeric \(t.worstNumeric) (|diff| \(t.maxAbsError), bound \(GradCheck.tolerance) x max(1, |numeric|))"
            }
        }
    }

    /// Which elements of each tensor to check.
    public enum Coverage: Sendable {
        case all
        /// First, last and up to `count - 2` evenly spread elements of each tensor.
        case sample(Int)

        func indices(_ n: Int) -> [Int] {
            switch self {
            case .all: return Array(0..<n)
            case .sample(let k):
                if n <= k { return Array(0..<n) }
                return (0..<k).map { $0 * (n - 1) / (k - 1) }
            }
        }
    }

    public static func run(_ c: Case, coverage: Coverage = .all) -> CaseResult {
        var inputs = Dictionary(uniqueKeysWithValues: c.inputs.map { ($0.name, $0.tensor) })
        let base = c.objective(inputs)
        let basePattern = signPattern(base.reluInputs)
        let margin = base.reluInputs.flatMap(\.data).map(abs).min() ?? .infinity
        var results: [TensorResult] = []
        for (name, tensor) in c.inputs {
            guard let analytic = c.analytic[name] else { preconditionFailure("case \(c.name) has no analytic gradient for \(name)") }
            precondition(analytic.shape == tensor.shape, "case \(c.name): gradient of \(name) has shape \(analytic.shape), input \(tensor.shape)")
            var r = TensorResult(tensor: name, checked: 0, maxAbsError: 0, maxRelError: 0, worstIndex: 0, worstAnalytic: 0, worstNumeric: 0)
            for i in coverage.indices(tensor.count) {
                let x0 = tensor.data[i]
                let h = relativeStep * max(1, abs(x0))
                inputs[name]!.data[i] = x0 + h
                let plus = c.objective(inputs)
                inputs[name]!.data[i] = x0 - h
                let minus = c.objective(inputs)
                inputs[name]!.data[i] = x0
                if r.kinkCrossedAt == nil, signPattern(plus.reluInputs) != basePattern || signPattern(minus.reluInputs) != basePattern {
                    r.kinkCrossedAt = i
                }
                // The actual step is (x0 + h) - (x0 - h) as represented, not 2h.
                let numeric = (plus.value - minus.value) / ((x0 + h) - (x0 - h))
                let a = analytic.data[i]
                let absErr = abs(a - numeric)
                let relErr = absErr / max(1, abs(numeric))
                if relErr > r.maxRelError || r.checked == 0 {
                    r.maxRelError = relErr
                    r.worstIndex = i
                    r.worstAnalytic = a
                    r.worstNumeric = numeric
                }
                r.maxAbsError = max(r.maxAbsError, absErr)
                r.checked += 1
            }
            results.append(r)
        }
        return CaseResult(name: c.name, tensors: results, minReluMargin: margin)
    }

    static func signPattern(_ ts: [Tensor]) -> [Bool] {
        ts.flatMap { $0.data.map { $0 > 0 } }
    }
}
