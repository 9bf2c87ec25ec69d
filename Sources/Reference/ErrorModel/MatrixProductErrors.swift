/// Error terms of the layers that are matrix products: convolution and linear, forward
/// and backward. For an output y = sum of n products a b: a = lambda (sqrt(n) + 2) sum |a b|
/// (accumulation, any order), v = 2 operandLambda sqrt(sum (a b)^2) (both operands rounded),
/// w = |y| (the output rounded). The magnitudes are the same layer evaluated on |a|, |b|
/// and on a^2, b^2, so every blocking or algorithm of the product (direct, im2col + GEMM,
/// Winograd's transforms, split reductions) is held to the products it sums.
public enum MatrixProductErrors {
    /// y of a convolution (x [N, C, H, W], w [K, C, R, R]).
    public static func conv2dForward(x: Tensor, w: Tensor, stride: Int, pad: Int, y: Tensor) -> ErrorTerms {
        let (my, qy) = ConvMagnitudes.forward(x, w, stride: stride, pad: pad, outShape: y.shape)
        var t = product(x.shape[1] * w.shape[2] * w.shape[2], my, qy, y.data)
        if WinogradErrors.applies(stride: stride, pad: pad, r: w.shape[2]) {
            winograd(&t, WinogradErrors.forward(x, w), terms: x.shape[1])
        }
        return t
    }

    /// dx, dweight of a convolution given dy [N, K, Ho, Wo].
    public static func conv2dBackward(
        x: Tensor, w: Tensor, dy: Tensor, stride: Int, pad: Int, dx: Tensor, dw: Tensor
    ) -> (dx: ErrorTerms, dw: ErrorTerms) {
        let (mdx, qdx, mdw, qdw) = ConvMagnitudes.backward(dy, x: x, w: w, stride: stride, pad: pad)
        var tdx = product(w.shape[0] * w.shape[2] * w.shape[2], mdx, qdx, dx.data)
        var tdw = product(x.shape[0] * dy.shape[2] * dy.shape[3], mdw, qdw, dw.data)
        if WinogradErrors.applies(stride: stride, pad: pad, r: w.shape[2]) {
            winograd(&tdx, WinogradErrors.forward(dy, WinogradErrors.transposedFlipped(w)), terms: w.shape[0])
            winograd(&tdw, WinogradErrors.weightGradient(x: x, dy: dy), terms: x.shape[0] * ((x.shape[2] + 1) / 2) * ((x.shape[3] + 1) / 2))
        }
        return (tdx, tdw)
    }

    /// y of a linear layer (x [N, I], w [O, I], b [O]): the bias is one more term.
    public static func linearForward(x: Tensor, w: Tensor, b: [Double], y: Tensor) -> ErrorTerms {
        let my = Linear.forward(abs(x), abs(w), b.map(Swift.abs)), qy = Linear.forward(square(x), square(w), b.map { $0 * $0 })
        return product(x.shape[1] + 1, my.data, qy.data, y.data)
    }

    /// dx, dweight, dbias of a linear layer given dy [N, O]; dbias is dy times ones.
    public static func linearBackward(
        x: Tensor, w: Tensor, dy: Tensor, dx: Tensor, dw: Tensor, db: [Double]
    )
        -> (dx: ErrorTerms, dw: ErrorTerms, db: ErrorTerms)
    {
        let (mdx, mdw, mdb) = Linear.backward(abs(dy), x: abs(x), w: abs(w))
        let (qdx, qdw, qdb) = Linear.backward(square(dy), x: square(x), w: square(w))
        let n = x.shape[0]
        return (product(w.shape[0], mdx.data, qdx.data, dx.data), product(n, mdw.data, qdw.data, dw.data), product(n, mdb, qdb, db))
    }

    /// Raises the accumulation term to Winograd's where that is larger (sums of `terms`
    /// transformed products of magnitude m, and two more roundings in the transforms), and
    /// the operand term to the rounding of the transformed operands U and V (2-norm q).
    static func winograd(_ t: inout ErrorTerms, _ w: (m: [Double], q: [Double]), terms: Int) {
        for i in t.a.indices {
            t.a[i] = max(t.a[i], ErrorTerms.lambda * (Double(terms).squareRoot() + 4) * w.m[i])
            t.v[i] = max(t.v[i], 2 * ErrorTerms.operandLambda * w.q[i])
        }
    }

    /// Terms of outputs that each sum `n` products with magnitudes `m` (sum |a b|) and
    /// squares `q` (sum (a b)^2).
    static func product(_ n: Int, _ m: [Double], _ q: [Double], _ y: [Double]) -> ErrorTerms {
        ErrorTerms(a: m.map { ErrorTerms.sum(n, $0) }, v: q.map { 2 * ErrorTerms.operandLambda * $0.squareRoot() }, w: y.map(Swift.abs))
    }

    static func abs(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, data: t.data.map(Swift.abs)) }
    static func square(_ t: Tensor) -> Tensor { Tensor(shape: t.shape, data: t.data.map { $0 * $0 }) }
}

/// Error terms of the element-wise and pooling layers (float32 arithmetic in every tier).
public enum ElementwiseErrors {
    /// ReLU: y and dx are inputs passed through or zeros: only their storage rounds.
    public static func relu(y: Tensor, dx: Tensor) -> (y: ErrorTerms, dx: ErrorTerms) {
        (ErrorTerms(a: y.data.map { ErrorTerms.slack * Swift.abs($0) }), ErrorTerms(a: dx.data.map { ErrorTerms.slack * Swift.abs($0) }))
    }

    /// A sum of two tensors (the residual connection, forward and backward): one rounding.
    public static func add(y: Tensor) -> ErrorTerms { ErrorTerms(a: y.data.map { ErrorTerms.slack * Swift.abs($0) }) }

    /// Global average pooling: y a sum of S values over S.
    public static func avgPoolForward(x: Tensor, y: Tensor) -> ErrorTerms {
        let s = x.shape[2] * x.shape[3]
        let m = GlobalAvgPool.forward(MatrixProductErrors.abs(x))
        return ErrorTerms(a: zip(m.data, y.data).map { ErrorTerms.sum(s, $0.0) + ErrorTerms.slack * Swift.abs($0.1) })
    }

    /// dx = dy / S.
    public static func avgPoolBackward(dx: Tensor) -> ErrorTerms { ErrorTerms(a: dx.data.map { ErrorTerms.slack * 2 * Swift.abs($0) }) }
}
