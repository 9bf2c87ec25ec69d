import BYOLModel
import Reference

/// Seeded inputs of check cases and benchmarks, from the project's `caseDraws` Philox
/// stream (key [seed, 2], apart from initialization and augmentation), so every case is
/// the same on every run and machine.
public struct CaseDraws {
    private var stream: PhiloxStream

    public init(seed: UInt64) {
        stream = PhiloxStream(seed: seed, .caseDraws, counter: (0, 0, 0, 0))
    }

    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double { stream.uniform(lo, hi) }

    /// Uniform values in [lo, hi).
    public mutating func tensor(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) -> Tensor {
        Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in stream.uniform(lo, hi) })
    }

    /// Values with magnitude in [minMagnitude, 1) and a random sign: inputs that stay
    /// clear of a ReLU kink.
    public mutating func awayFromZero(_ shape: [Int], minMagnitude: Double) -> Tensor {
        Tensor(
            shape: shape,
            data: (0..<shape.reduce(1, *)).map { _ in
                let m = stream.uniform(minMagnitude, 1)
                return stream.nextUniform() < 0.5 ? -m : m
            })
    }
}
