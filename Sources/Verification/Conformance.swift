import BYOLModel
import Foundation
import NumPyIO
import Reference

/// The conformance kit's case files (docs/conformance.md): every layer function a BYOL
/// network uses, at every distinct shape it uses it, with inputs, the float64
/// reference's outputs and, per output element and precision tier, the error bound an
/// implementation under test must meet. Another implementation, in any language, reads a
/// case's inputs, writes its outputs under the same names, and `check` compares.
///
/// Files: ConformanceCases (what the cases are), ConformanceBounds and StepBounds (their
/// error bounds), ConformanceExport (writing them), ConformanceCheck (judging results),
/// ConformanceReports (JUnit and JSON).
public enum Conformance {
    /// The manifest's format version: bumped when a name, a layout or a rule changes
    /// (2: per-element bounds in bounds.npz, precision tiers, batchnorm_running).
    public static let version = 2

    /// One case: a function applied to inputs, what the reference returns, and the bounds.
    public struct Case {
        public var id: String
        public var function: String
        public var params: [String: Int]
        public var inputs: [(name: String, array: NDArray)]
        public var expected: [(name: String, array: NDArray)]
        /// Per float output: the bound of every element at each tier (integer outputs
        /// have none: they must be exact).
        public var bounds: [String: [Tier: [Double]]]
        /// The smallest |input| of a ReLU case, or of every ReLU of a step case's float64
        /// passes: rounding cannot flip a sign above it.
        public var reluMargin: Double?
        /// The state a step or embed case starts from (written as ID/state.npz).
        public var state: BYOLState?
    }

    /// Functions in the order cases are generated (the op table's).
    public static let functions = Ops.all.map(\.name)

    /// The functions `byol conformance run --plugin` cannot run (not part of the C ABI).
    public static let wholeNetworkFunctions = Set(Ops.all.filter(\.wholeNetwork).map(\.name))
}
