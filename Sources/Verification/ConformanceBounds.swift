import BYOLModel
import NumPyIO
import Reference

/// The per-element bounds of the layer and update cases: the rounding-error model of each
/// function (Reference/ErrorModel) applied to the case's inputs and expected outputs.
/// Whole steps and embeds compose these models through the network (StepBounds).
enum ConformanceBounds {
    /// Every float output's bound at every tier.
    static func tiers(_ terms: [String: ErrorTerms]) -> [String: [Tier: [Double]]] {
        terms.mapValues { t in Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, t.bound($0)) }) }
    }

    /// The error terms of a layer or update case's float outputs (its op's error model).
    static func terms(
        function: String, params: [String: Int], inputs: [(name: String, array: NDArray)], expected: [(name: String, array: NDArray)]
    ) -> [String: ErrorTerms] {
        guard let model = Ops.named(function)?.errorModel else { return [:] }
        return model(
            OpValues(
                params: params, inputs: Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.array) }),
                expected: Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0.array) })))
    }
}
