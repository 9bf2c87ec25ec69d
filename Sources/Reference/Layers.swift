/// The conv -> BN and linear -> BN building steps of the networks, bound to parameter
/// names, with the caches their backward passes need.

/// What a BN layer's backward needs in either mode.
public enum BNCache {
    case train(BatchNorm.Cache)
    case eval(x: Tensor, gamma: [Double], running: BatchNorm.Running)
}

/// BN layer `name` on x, updating its running statistics in train mode.
func batchNorm(_ x: Tensor, _ name: String, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, BNCache) {
    let gamma = params[name + ".weight"].data
    let beta = params[name + ".bias"].data
    let running = params.running(name)
    switch mode {
    case .train:
        let (y, cache, next) = BatchNorm.forwardTrain(x, gamma: gamma, beta: beta, running: running)
        params.setRunning(name, next)
        return (y, .train(cache))
    case .eval:
        return (BatchNorm.forwardEval(x, gamma: gamma, beta: beta, running: running), .eval(x: x, gamma: gamma, running: running))
    }
}

/// Backward of BN layer `name`: accumulates its weight and bias gradients, returns dx.
func batchNormBackward(_ dy: Tensor, _ name: String, _ cache: BNCache, _ grads: inout Gradients) -> Tensor {
    let (dx, dgamma, dbeta): (Tensor, [Double], [Double])
    switch cache {
    case .train(let c): (dx, dgamma, dbeta) = BatchNorm.backward(dy, cache: c)
    case .eval(let x, let gamma, let running): (dx, dgamma, dbeta) = BatchNorm.backwardEval(dy, x: x, gamma: gamma, running: running)
    }
    grads.accumulate(name + ".weight", Tensor(shape: [dgamma.count], data: dgamma))
    grads.accumulate(name + ".bias", Tensor(shape: [dbeta.count], data: dbeta))
    return dx
}

/// Conv `conv` then BN `bn`: x [N, C, H, W] -> [N, K, Ho, Wo].
struct ConvBNCache {
    var x: Tensor
    var bn: BNCache
}

func convBN(_ x: Tensor, conv: String, bn: String, stride: Int, pad: Int, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, ConvBNCache) {
    let c = Conv2d.forward(x, params[conv + ".weight"], stride: stride, pad: pad)
    let (y, bnCache) = batchNorm(c, bn, &params, mode)
    return (y, ConvBNCache(x: x, bn: bnCache))
}

func convBNBackward(_ dy: Tensor, conv: String, bn: String, stride: Int, pad: Int, _ cache: ConvBNCache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
    let dc = batchNormBackward(dy, bn, cache.bn, &grads)
    let (dx, dw) = Conv2d.backward(dc, x: cache.x, w: params[conv + ".weight"], stride: stride, pad: pad)
    grads.accumulate(conv + ".weight", dw)
    return dx
}
