/// The projector and predictor MLPs: `{name}.0` Linear -> `{name}.1` BatchNorm1d ->
/// ReLU -> `{name}.3` Linear. x [N, In] -> [N, Out].
public enum MLPHead {
    public struct Cache {
        var x: Tensor
        var hidden: Tensor    // linear 0 output
        var bn: BNCache
        var act: Tensor       // BN output, the ReLU's input
        var relu: Tensor      // ReLU output, linear 3's input
        public var reluInputs: [Tensor] { [act] }
    }

    public static func forward(_ x: Tensor, name: String, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, Cache) {
        let h = linearForward(x, name + ".0", params)
        let (a, bn) = batchNorm(h, name + ".1", &params, mode)
        let r = ReLU.forward(a)
        let y = linearForward(r, name + ".3", params)
        return (y, Cache(x: x, hidden: h, bn: bn, act: a, relu: r))
    }

    public static func backward(_ dy: Tensor, name: String, _ cache: Cache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
        let (dr, dw3, db3) = linearBackward(dy, x: cache.relu, name + ".3", params)
        grads.accumulate(name + ".3.weight", dw3)
        grads.accumulate(name + ".3.bias", Tensor(shape: [db3.count], data: db3))
        let da = ReLU.backward(dr, x: cache.act)
        let dh = batchNormBackward(da, name + ".1", cache.bn, &grads)
        let (dx, dw0, db0) = linearBackward(dh, x: cache.x, name + ".0", params)
        grads.accumulate(name + ".0.weight", dw0)
        grads.accumulate(name + ".0.bias", Tensor(shape: [db0.count], data: db0))
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
