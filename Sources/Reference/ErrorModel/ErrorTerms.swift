import BYOLModel

/// A per-element rounding-error bound of one output tensor, as three coefficient arrays:
/// the bound at tier t is  t.accumulation * a + t.operand * v + t.product * w
/// (docs/contract.md §4, docs/design.md "Error bounds"). The coefficients come from a
/// rounding-error model of the function applied to the case's actual inputs:
/// - `a`: float32 (or float64) arithmetic: sums, element-wise operations, the storage of
///   inputs and outputs; sums are bounded probabilistically, lambda (sqrt(n) + 2) sum |terms|
///   (Higham and Mary 2019), whatever their order or blocking, with or without FMA;
///   element-wise operations by a count of their roundings, doubled;
/// - `v`: the rounding of matrix products' operands, 2 operandLambda ||terms||_2 (each
///   product a b becomes a b (1 + d1)(1 + d2): independent bounded errors, whose sum
///   Hoeffding's inequality bounds by the 2-norm of the terms);
/// - `w`: the rounding of a matrix product's output, |y|.
public struct ErrorTerms: Sendable {
    public var a: [Double]
    public var v: [Double]
    public var w: [Double]

    public init(a: [Double], v: [Double]? = nil, w: [Double]? = nil) {
        self.a = a
        self.v = v ?? [Double](repeating: 0, count: a.count)
        self.w = w ?? [Double](repeating: 0, count: a.count)
    }

    /// The bound of every element at `tier`.
    public func bound(_ tier: Tier) -> [Double] {
        var out = a
        for i in out.indices { out[i] = tier.accumulation * a[i] + tier.operand * v[i] + tier.product * w[i] }
        return out
    }

    /// lambda: how many standard deviations of a random-walk sum of rounding errors a sum's
    /// bound allows. A sum of n terms fails it with probability below 2n exp(-lambda^2 / 2)
    /// (Higham and Mary's Theorem 3.1), 1e-10 per element for n = 4096.
    public static let lambda = 8.0
    /// The same for the operand-rounding sum: 2 operandLambda ||terms||_2 is about 9.8
    /// standard deviations of a sum of operand roundings (each uniform within +-u,
    /// variance 2 u^2 / 3 per product), and covers every sum of up to 16 terms outright
    /// (|sum d p| <= 2 u sum |p| <= 2 u sqrt(n) ||p||_2). Tighter than lambda so that
    /// bfloat16 operands (8x TF32's roundoff) fail the TF32 tier by a clear factor.
    public static let operandLambda = 4.0
    /// The factor on every element-wise count of roundings (operations not counted, the
    /// rounding of hyperparameters that are exact in float64).
    public static let slack = 2.0

    /// A sum of `n` terms whose absolute values add up to `m`: its `a` coefficient.
    public static func sum(_ n: Int, _ m: Double) -> Double { lambda * (Double(n).squareRoot() + 2) * m }
}
