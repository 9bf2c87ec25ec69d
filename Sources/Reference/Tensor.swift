/// A dense float64 array in C order. The reference's only data type.
public struct Tensor: Equatable, Sendable {
    public var shape: [Int]
    public var data: [Double]

    public init(shape: [Int], data: [Double]) {
        precondition(data.count == shape.reduce(1, *), "shape \(shape) does not fit \(data.count) values")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.init(shape: shape, data: [Double](repeating: 0, count: shape.reduce(1, *)))
    }

    public var count: Int { data.count }

    /// Element-wise sum of two tensors of the same shape.
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        precondition(a.shape == b.shape, "shape mismatch \(a.shape) vs \(b.shape)")
        var out = a
        for i in 0..<out.data.count { out.data[i] += b.data[i] }
        return out
    }

    /// Rows `range` of the leading axis.
    public func rows(_ range: Range<Int>) -> Tensor {
        let per = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        return Tensor(shape: s, data: Array(data[range.lowerBound * per..<range.upperBound * per]))
    }

    /// Concatenation along the leading axis.
    public static func concatRows(_ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(a.shape.dropFirst() == b.shape.dropFirst(), "shape mismatch \(a.shape) vs \(b.shape)")
        var s = a.shape
        s[0] += b.shape[0]
        return Tensor(shape: s, data: a.data + b.data)
    }
}
