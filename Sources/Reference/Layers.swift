import BYOLModel

/// The conv -> BN and linear -> BN building steps of the networks, bound to parameter
/// names, with the caches their backward passes need.

/// What a BN layer's backward needs in either mode.
public enum BNCache {
    /// x: the layer's input, for the error model of its backward (RoundingNoise).
    case train(BatchNorm.Cache, x: Tensor)
    case eval(x: Tensor, gamma: [Double], running: BatchNorm.Running)
}

/// BN layer `name` on x, updating its running statistics in train mode.
func batchNorm(_ x: Tensor, _ name: String, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, BNCache) {
    let gamma = params[name + ".weight"].data
    let beta = params[name + ".bias"].data
    let running = params.running(name)
    switch mode {
    case .train:
        var (y, cache, next) = BatchNorm.forwardTrain(x, gamma: gamma, beta: beta, running: running)
        RoundingNoise.site(&y.data, BatchNormErrors.trainForward(x: x, gamma: gamma, beta: beta))
        if RoundingNoise.current != nil {
            let e =
                RoundingNoise.recording
                ? BatchNormErrors.running(x: x, runningMean: running.mean, runningVar: running.variance, momentum: BatchNorm.momentum, next: next)
                : nil
            RoundingNoise.site(&next.mean, e!.mean)
            RoundingNoise.site(&next.variance, e!.variance)
        }
        params.setRunning(name, next)
        return (y, .train(cache, x: x))
    case .eval:
        let exact = BatchNorm.forwardEval(x, gamma: gamma, beta: beta, running: running)
        var y = exact
        RoundingNoise.site(
            &y.data,
            BatchNormErrors.eval(
                x: x, gamma: gamma, beta: beta, runningMean: running.mean, runningVar: running.variance,
                y: exact))
        return (y, .eval(x: x, gamma: gamma, running: running))
    }
}

/// Backward of BN layer `name`: accumulates its weight and bias gradients, returns dx.
func batchNormBackward(_ dy: Tensor, _ name: String, _ cache: BNCache, _ grads: inout Gradients) -> Tensor {
    var (dx, dgamma, dbeta): (Tensor, [Double], [Double])
    switch cache {
    case .train(let c, let x):
        (dx, dgamma, dbeta) = BatchNorm.backward(dy, cache: c)
        if RoundingNoise.current != nil {
            let e = RoundingNoise.recording ? BatchNormErrors.trainBackward(x: x, gamma: c.gamma, dy: dy, dx: dx) : nil
            RoundingNoise.site(&dx.data, e!.dx)
            RoundingNoise.site(&dgamma, e!.dweight)
            RoundingNoise.site(&dbeta, e!.dbias)
        }
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

/// The conv + BN pair `spec` (the network description's names, under `prefix`).
func convBN(_ x: Tensor, _ spec: ConvBNSpec, prefix: String, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, ConvBNCache) {
    convBN(x, conv: prefix + spec.conv, bn: prefix + spec.bn, stride: spec.stride, pad: spec.pad, &params, mode)
}

func convBNBackward(_ dy: Tensor, _ spec: ConvBNSpec, prefix: String, _ cache: ConvBNCache, _ params: NetParams, _ grads: inout Gradients) -> Tensor {
    convBNBackward(dy, conv: prefix + spec.conv, bn: prefix + spec.bn, stride: spec.stride, pad: spec.pad, cache, params, &grads)
}

func convBN(_ x: Tensor, conv: String, bn: String, stride: Int, pad: Int, _ params: inout NetParams, _ mode: BNMode) -> (Tensor, ConvBNCache) {
    let w = params[conv + ".weight"]
    let exact = Conv2d.forward(x, w, stride: stride, pad: pad)
    var c = exact
    RoundingNoise.site(&c.data, MatrixProductErrors.conv2dForward(x: x, w: w, stride: stride, pad: pad, y: exact))
    let (y, bnCache) = batchNorm(c, bn, &params, mode)
    return (y, ConvBNCache(x: x, bn: bnCache))
}

func convBNBackward(
    _ dy: Tensor, conv: String, bn: String, stride: Int, pad: Int, _ cache: ConvBNCache, _ params: NetParams, _ grads: inout Gradients
) -> Tensor {
    let dc = batchNormBackward(dy, bn, cache.bn, &grads)
    let w = params[conv + ".weight"]
    var (dx, dw) = Conv2d.backward(dc, x: cache.x, w: w, stride: stride, pad: pad)
    if RoundingNoise.current != nil {
        let e = RoundingNoise.recording ? MatrixProductErrors.conv2dBackward(x: cache.x, w: w, dy: dc, stride: stride, pad: pad, dx: dx, dw: dw) : nil
        RoundingNoise.site(&dx.data, e!.dx)
        RoundingNoise.site(&dw.data, e!.dw)
    }
    grads.accumulate(conv + ".weight", dw)
    return dx
}
