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
        let h = Linear.forward(x, params[name + ".0.weight"], params[name + ".0.bias"].data)
        let (a, bn) = batchNorm(h, name + ".1", &params, mode)
        let r = ReLU.forward(a)
        let y = Linear.forward(r, params[name + ".3.weight"], params[name + ".3.bias"].data)
        return (y, Cache(x: x, hidden: h, bn: bn, act: a, relu: r))
    }

    public static func backward(_ dy: Tensor, name: String, _ cache: Cache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
        let (dr, dw3, db3) = Linear.backward(dy, x: cache.relu, w: params[name + ".3.weight"])
        grads.accumulate(name + ".3.weight", dw3)
        grads.accumulate(name + ".3.bias", Tensor(shape: [db3.count], data: db3))
        let da = ReLU.backward(dr, x: cache.act)
        let dh = batchNormBackward(da, name + ".1", cache.bn, &grads)
        let (dx, dw0, db0) = Linear.backward(dh, x: cache.x, w: params[name + ".0.weight"])
        grads.accumulate(name + ".0.weight", dw0)
        grads.accumulate(name + ".0.bias", Tensor(shape: [db0.count], data: db0))
        return dx
    }
}
