import NumPyIO

/// The arithmetic an engine computes in: `float64` (the plain reference) or `float32`
/// (the OpenBLAS path). Float outputs are written in the same dtype.
public enum Precision: String, Sendable, CaseIterable {
    case float64, float32

    public var dtype: DType { self == .float64 ? .float64 : .float32 }
}
