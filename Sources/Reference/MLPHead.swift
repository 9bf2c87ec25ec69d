import BYOLModel

/// The projector and predictor MLPs: `{name}.0` Linear -> `{name}.1` BatchNorm1d ->
/// ReLU -> `{name}.3` Linear. x [N, In] -> [N, Out].
public enum MLPHead {
    public struct Cache {
        var x: Tensor
        var hidden: Tensor  // linear 0 output
        var bn: BNCache
        var act: Tensor  // BN output, the ReLU's input
        var relu: Tensor  // ReLU output, linear 3's input
        public var reluInputs: [Tensor] { [act] }
    }

    public static func forward(_ x: Tensor, _ head: HeadSpec, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, Cache) {
        let h = linearForward(x, head.firstLinear, params)
        let (a, bn) = batchNorm(h, head.bn, &params, mode)
        let r = ReLU.forward(a)
        let y = linearForward(r, head.secondLinear, params)
        return (y, Cache(x: x, hidden: h, bn: bn, act: a, relu: r))
    }

    public static func backward(_ dy: Tensor, _ head: HeadSpec, _ cache: Cache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
        let (dr, dw3, db3) = linearBackward(dy, x: cache.relu, head.secondLinear, params)
        grads.accumulate(head.secondLinear + ".weight", dw3)
        grads.accumulate(head.secondLinear + ".bias", Tensor(shape: [db3.count], data: db3))
        let da = ReLU.backward(dr, x: cache.act)
        let dh = batchNormBackward(da, head.bn, cache.bn, &grads)
        let (dx, dw0, db0) = linearBackward(dh, x: cache.x, head.firstLinear, params)
        grads.accumulate(head.firstLinear + ".weight", dw0)
        grads.accumulate(head.firstLinear + ".bias", Tensor(shape: [db0.count], data: db0))
        return dx
    }
}

/// Linear layer `name` (its weight and bias), with its rounding site.
func linearForward(_ x: Tensor, _ name: String, _ params: NetParams) -> Tensor {
    let (w, b) = (params[name + ".weight"], params[name + ".bias"].data)
    let exact = Linear.forward(x, w, b)
    var y = exact
    RoundingNoise.site(&y.data, MatrixProductErrors.linearForward(x: x, w: w, b: b, y: exact))
    return y
}

func linearBackward(_ dy: Tensor, x: Tensor, _ name: String, _ params: NetParams) -> (Tensor, Tensor, [Double]) {
    let w = params[name + ".weight"]
    var (dx, dw, db) = Linear.backward(dy, x: x, w: w)
    if RoundingNoise.current != nil {
        let e = RoundingNoise.recording ? MatrixProductErrors.linearBackward(x: x, w: w, dy: dy, dx: dx, dw: dw, db: db) : nil
        RoundingNoise.site(&dx.data, e!.dx)
        RoundingNoise.site(&dw.data, e!.dw)
        RoundingNoise.site(&db, e!.db)
    }
    return (dx, dw, db)
}
