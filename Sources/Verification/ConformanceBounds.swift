import BYOLModel
import NumPyIO
import Reference

/// The per-element bounds of the layer and update cases: the rounding-error model of each
/// function (Reference/ErrorModel) applied to the case's inputs and expected outputs.
/// Whole steps and embeds compose these models through the network (StepBounds).
enum ConformanceBounds {
    /// Every float output's bound at every tier.
    static func tiers(_ terms: [String: ErrorTerms]) -> [String: [Tier: [Double]]] {
        terms.mapValues { t in Dictionary(uniqueKeysWithValues: Tier.allCases.map { ($0, t.bound($0)) }) }
    }

    /// The error terms of a layer or update case's float outputs.
    static func terms(function: String, params: [String: Int], inputs: [(name: String, array: NDArray)], expected: [(name: String, array: NDArray)]) -> [String: ErrorTerms] {
        let i = Dictionary(uniqueKeysWithValues: inputs.map { ($0.name, $0.array) })
        let e = Dictionary(uniqueKeysWithValues: expected.map { ($0.name, $0.array) })
        func t(_ a: [String: NDArray], _ n: String) -> Tensor { Tensor(a[n]!) }
        func d(_ a: [String: NDArray], _ n: String) -> [Double] { a[n]!.doubles }
        func s(_ n: String) -> Double { i[n]?.doubles.first ?? 0 }
        switch function {
        case "conv2d":
            let x = t(i, "x"), w = t(i, "weight"), dy = t(i, "dy")
            let (stride, pad) = (params["stride"] ?? 1, params["pad"] ?? 0)
            let b = MatrixProductErrors.conv2dBackward(x: x, w: w, dy: dy, stride: stride, pad: pad, dx: t(e, "dx"), dw: t(e, "dweight"))
            return ["y": MatrixProductErrors.conv2dForward(x: x, w: w, stride: stride, pad: pad, y: t(e, "y")), "dx": b.dx, "dweight": b.dw]
        case "linear":
            let r = MatrixProductErrors.linearBackward(x: t(i, "x"), w: t(i, "weight"), dy: t(i, "dy"), dx: t(e, "dx"), dw: t(e, "dweight"),
                                                       db: d(e, "dbias"))
            return ["y": MatrixProductErrors.linearForward(x: t(i, "x"), w: t(i, "weight"), b: d(i, "bias"), y: t(e, "y")), "dx": r.dx,
                    "dweight": r.dw, "dbias": r.db]
        case "batchnorm2d_train", "batchnorm1d_train":
            let r = BatchNormErrors.trainBackward(x: t(i, "x"), gamma: d(i, "weight"), dy: t(i, "dy"), dx: t(e, "dx"))
            return ["y": BatchNormErrors.trainForward(x: t(i, "x"), gamma: d(i, "weight"), beta: d(i, "bias")), "dx": r.dx, "dweight": r.dweight,
                    "dbias": r.dbias]
        case "batchnorm2d_eval", "batchnorm1d_eval":
            return ["y": BatchNormErrors.eval(x: t(i, "x"), gamma: d(i, "weight"), beta: d(i, "bias"), runningMean: d(i, "running_mean"),
                                              runningVar: d(i, "running_var"), y: t(e, "y"))]
        case "batchnorm_running":
            let next = BatchNorm.Running(mean: d(e, "running_mean"), variance: d(e, "running_var"), batches: 0)
            let r = BatchNormErrors.running(x: t(i, "x"), runningMean: d(i, "running_mean"), runningVar: d(i, "running_var"),
                                            momentum: s("momentum"), next: next)
            return ["running_mean": r.mean, "running_var": r.variance]
        case "relu":
            let r = ElementwiseErrors.relu(y: t(e, "y"), dx: t(e, "dx"))
            return ["y": r.y, "dx": r.dx]
        case "avgpool":
            return ["y": ElementwiseErrors.avgPoolForward(x: t(i, "x"), y: t(e, "y")), "dx": ElementwiseErrors.avgPoolBackward(dx: t(e, "dx"))]
        case "loss":
            let r = LossErrors.loss(p: t(i, "p"), z: t(i, "z"), dp: t(e, "dp"))
            return ["loss": r.loss, "dp": r.dp]
        case "symmetric_loss":
            let a = LossErrors.loss(p: t(i, "p1"), z: t(i, "z2"), dp: t(e, "dp1")), b = LossErrors.loss(p: t(i, "p2"), z: t(i, "z1"), dp: t(e, "dp2"))
            let total = e["loss"]!.doubles[0]
            return ["loss": ErrorTerms(a: [a.loss.a[0] + b.loss.a[0] + ErrorTerms.slack * abs(total)]), "dp1": a.dp, "dp2": b.dp]
        case "sgd", "lars", "adam":
            let config = OptimizerConfig(kind: OptimizerKind(rawValue: function)!, lr: s("lr"), momentum: s("momentum"), weightDecay: s("weight_decay"),
                                         larsEta: s("eta"), adamBeta1: s("beta1"), adamBeta2: s("beta2"), adamEps: s("eps"))
            var buffers: [String: [Double]] = [:], next: [String: [Double]] = [:]
            for b in config.bufferNames {
                buffers[b] = i[b]?.doubles
                next[b] = e[b]?.doubles
            }
            let step = i["step"].flatMap { a -> Int64? in if case .int64(let v) = a.storage { return v.first }; return nil } ?? 0
            return UpdateErrors.update(param: d(i, "param"), grad: d(i, "grad"), buffers: buffers, isMatrix: i["param"]!.shape.count > 1,
                                       step: step, config: config, out: d(e, "param"), newBuffers: next)
        case "ema":
            return ["target": UpdateErrors.ema(target: d(i, "target"), online: d(i, "online"), tau: s("tau"), out: d(e, "target"))]
        default:
            return [:]
        }
    }
}
