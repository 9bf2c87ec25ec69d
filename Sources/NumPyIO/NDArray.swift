/// An n-dimensional array as NumPy stores it: a dtype, a shape and C-order elements.
///
/// This is the exchange type of the project: everything read from or written to `.npy`
/// and `.npz` passes through it. Compute code converts to its own precision.
public struct NDArray: Equatable, Sendable {
    public enum Storage: Equatable, Sendable {
        case float64([Double])
        case float32([Float])
        case int64([Int64])
        case uint8([UInt8])
    }

    public var shape: [Int]
    public var storage: Storage

    public init(shape: [Int], storage: Storage) {
        self.shape = shape
        self.storage = storage
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        precondition(count == shape.reduce(1, *), "shape \(shape) does not fit \(count) elements")
    }

    public init(float64 values: [Double], shape: [Int]) { self.init(shape: shape, storage: .float64(values)) }
    public init(float32 values: [Float], shape: [Int]) { self.init(shape: shape, storage: .float32(values)) }
    public init(int64 values: [Int64], shape: [Int]) { self.init(shape: shape, storage: .int64(values)) }
    public init(uint8 values: [UInt8], shape: [Int]) { self.init(shape: shape, storage: .uint8(values)) }

    /// A 0-d float64 array.
    public static func scalar(_ value: Double) -> NDArray { NDArray(float64: [value], shape: []) }
    /// A 0-d int64 array.
    public static func scalar(_ value: Int64) -> NDArray { NDArray(int64: [value], shape: []) }

    public var count: Int {
        switch storage {
        case .float64(let v): return v.count
        case .float32(let v): return v.count
        case .int64(let v): return v.count
        case .uint8(let v): return v.count
        }
    }

    public var dtype: DType {
        switch storage {
        case .float64: return .float64
        case .float32: return .float32
        case .int64: return .int64
        case .uint8: return .uint8
        }
    }

    public var isFloat: Bool { dtype == .float64 || dtype == .float32 }

    /// The elements as Double, whatever the dtype (exact for every stored dtype but
    /// int64 beyond 2^53).
    public var doubles: [Double] {
        switch storage {
        case .float64(let v): return v
        case .float32(let v): return v.map(Double.init)
        case .int64(let v): return v.map(Double.init)
        case .uint8(let v): return v.map(Double.init)
        }
    }

    /// The elements as Float (rounded to nearest for float64).
    public var floats: [Float] {
        switch storage {
        case .float64(let v): return v.map(Float.init)
        case .float32(let v): return v
        case .int64(let v): return v.map(Float.init)
        case .uint8(let v): return v.map(Float.init)
        }
    }
}

extension NDArray {
    /// False when a float element is NaN or Inf (integer arrays are always finite).
    public var isFinite: Bool {
        switch storage {
        case .float64(let v): return !v.contains { !$0.isFinite }
        case .float32(let v): return !v.contains { !$0.isFinite }
        case .int64, .uint8: return true
        }
    }

    /// A float array in `dtype` (float64 -> float32 rounds to nearest); other arrays, and
    /// arrays already in `dtype`, unchanged.
    public func converted(to dtype: DType) -> NDArray {
        guard isFloat, self.dtype != dtype else { return self }
        switch dtype {
        case .float64: return NDArray(float64: doubles, shape: shape)
        case .float32: return NDArray(float32: floats, shape: shape)
        default: return self
        }
    }
}

/// The dtypes the project stores. Reading also accepts a few others and widens them
/// (see `NPY.decode`).
public enum DType: String, Sendable, CaseIterable {
    case float64 = "<f8"
    case float32 = "<f4"
    case int64 = "<i8"
    case uint8 = "|u1"

    public var itemSize: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32: return 4
        case .uint8: return 1
        }
    }
}
