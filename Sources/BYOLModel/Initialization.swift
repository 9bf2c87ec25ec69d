import NumPyIO

/// Seeded initialization with PyTorch's default schemes, drawn from the project's own
/// counter-based generator so that NumPy can reproduce it:
///
/// - conv and linear weights: kaiming-uniform with a = sqrt(5), i.e. U(-b, b) with
///   b = 1 / sqrt(fan_in) (PyTorch's `reset_parameters`);
/// - linear biases: U(-1 / sqrt(fan_in), 1 / sqrt(fan_in));
/// - BN: weight 1, bias 0, running mean 0, running var 1, num_batches_tracked 0.
///
/// The j-th array of the online network (in `Architecture.onlineSpecs` order, buffers
/// included) draws, element by element in C order, `lo + (hi - lo) * u` with u from
/// `numpy.random.Generator(numpy.random.Philox(key=[seed, 1], counter=[0, j, 0, 0])).random()`.
/// Key word 1 = 1 keeps these streams apart from the augmentation streams (key word 0).
public enum Initializer {
    public static func initialState(arch: Architecture, seed: UInt64) -> BYOLState {
        var arrays: [String: NDArray] = [:]
        for (j, spec) in arch.onlineSpecs.enumerated() {
            var rng = PhiloxStream(seed: seed, .initialization, counter: (0, UInt64(j), 0, 0))
            let array: NDArray
            switch spec.kind {
            case .convWeight, .linearWeight, .linearBias:
                let b = 1.0 / Double(spec.fanIn).squareRoot()
                array = NDArray(float64: (0..<spec.count).map { _ in rng.uniform(-b, b) }, shape: spec.shape)
            case .bnWeight, .bnRunningVar:
                array = NDArray(float64: [Double](repeating: 1, count: spec.count), shape: spec.shape)
            case .bnBias, .bnRunningMean:
                array = NDArray(float64: [Double](repeating: 0, count: spec.count), shape: spec.shape)
            case .bnBatchCount:
                array = .scalar(Int64(0))
            }
            arrays[spec.name] = array
        }
        // The target starts as a copy of the online backbone and projector.
        for spec in arch.targetSpecs {
            arrays[spec.name] = arrays["online." + spec.name.dropFirst("target.".count)]
        }
        arrays["step"] = .scalar(Int64(0))
        return BYOLState(arch: arch, arrays: arrays)
    }
}
