import BYOLModel
import Foundation
import NumPyIO
import Reference

/// BatchNorm's functions (train and eval, 2-d and 1-d, and the running statistics' update):
/// the ops, their C calls and their randomized float32 implementations.
extension Ops {

    static func batchNormTrain(_ name: String) -> Op {
        Op(
            name: name, inputs: ["x", "weight", "bias", "dy"], outputs: ["y", "dx", "dweight", "dbias"], params: [],
            abi: ["batchnorm_train_forward", "batchnorm_train_backward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.batchNormTrain, f64: ConformancePlugin.batchNormTrain),
            compute: { e, c in e.batchNormTrain(x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), dy: try c.x("dy")) },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let r = BatchNormErrors.trainBackward(x: v.t(i, "x"), gamma: v.d(i, "weight"), dy: v.t(i, "dy"), dx: v.t(e, "dx"))
                return [
                    "y": BatchNormErrors.trainForward(x: v.t(i, "x"), gamma: v.d(i, "weight"), beta: v.d(i, "bias")), "dx": r.dx,
                    "dweight": r.dweight, "dbias": r.dbias
                ]
            },
            samples: { rng in
                let shape = name.contains("2d") ? [6, 5, 4, 4] : [7, 9]
                let c = shape[1]
                let x = rng.tensor(shape, -1, 3), gamma = rng.tensor([c], 0.5, 1.5), beta = rng.tensor([c], -0.5, 0.5)
                return [
                    OpSample(name.replacingOccurrences(of: "_", with: " "), [("x", x), ("weight", gamma), ("bias", beta), ("dy", rng.tensor(shape))])
                ]
            },
            randomized: { k, c in
                let xs = try c.shape("x")
                let r = k.batchNormTrain(x: try c.floats("x"), xs, gamma: try c.floats("weight"), beta: try c.floats("bias"), dy: try c.floats("dy"))
                return [out32("y", r.y, xs), out32("dx", r.dx, xs), out32("dweight", r.dg, [xs[1]]), out32("dbias", r.db, [xs[1]])]
            })
    }

    static func batchNormEval(_ name: String) -> Op {
        Op(
            name: name, inputs: ["x", "weight", "bias", "running_mean", "running_var"], outputs: ["y"], params: [],
            abi: ["batchnorm_eval_forward"], abiVersion: 1, kind: .layer,
            plugin: .init(f32: ConformancePlugin.batchNormEval, f64: ConformancePlugin.batchNormEval),
            compute: { e, c in
                e.batchNormEval(
                    x: try c.x("x"), weight: try c.x("weight"), bias: try c.x("bias"), runningMean: try c.x("running_mean"),
                    runningVar: try c.x("running_var"))
            },
            errorModel: { v in
                let i = v.inputs
                return [
                    "y": BatchNormErrors.eval(
                        x: v.t(i, "x"), gamma: v.d(i, "weight"), beta: v.d(i, "bias"), runningMean: v.d(i, "running_mean"),
                        runningVar: v.d(i, "running_var"), y: v.t(v.expected, "y"))
                ]
            },
            samples: { rng in
                let shape = name.contains("2d") ? [6, 5, 4, 4] : [7, 9]
                let c = shape[1]
                let x = rng.tensor(shape, -1, 3), gamma = rng.tensor([c], 0.5, 1.5), beta = rng.tensor([c], -0.5, 0.5)
                let mean = rng.tensor([c], -0.5, 0.5), variance = rng.tensor([c], 0.5, 2)
                return [
                    OpSample(
                        name.replacingOccurrences(of: "_", with: " "),
                        [("x", x), ("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", variance)])
                ]
            },
            randomized: { k, c in
                let xs = try c.shape("x")
                let y = k.batchNormEval(
                    x: try c.floats("x"), xs, gamma: try c.floats("weight"), beta: try c.floats("bias"), mean: try c.floats("running_mean"),
                    variance: try c.floats("running_var"))
                return [out32("y", y, xs)]
            })
    }

    /// Train-mode BatchNorm's running statistics after one batch.
    static let batchNormRunning =
        Op(
            name: "batchnorm_running", inputs: ["x", "running_mean", "running_var", "num_batches_tracked", "momentum"],
            outputs: ["running_mean", "running_var", "num_batches_tracked"], params: [], abi: ["batchnorm_running_update"], abiVersion: 2,
            kind: .update,
            plugin: .init(f32: ConformancePlugin.batchNormRunning, f64: ConformancePlugin.batchNormRunning),
            compute: { e, c in
                let batches = try c.inputs.requireInt("num_batches_tracked", shape: [])
                guard case .int64(let b) = batches.storage, let count = b.first else {
                    throw NumPyIOError(file: c.inputs.path, array: "num_batches_tracked", "not an int64 scalar")
                }
                return e.batchNormRunning(
                    x: try c.x("x"), runningMean: try c.x("running_mean"), runningVar: try c.x("running_var"), batches: count)
            },
            errorModel: { v in
                let (i, e) = (v.inputs, v.expected)
                let next = BatchNorm.Running(mean: v.d(e, "running_mean"), variance: v.d(e, "running_var"), batches: 0)
                let r = BatchNormErrors.running(
                    x: v.t(i, "x"), runningMean: v.d(i, "running_mean"), runningVar: v.d(i, "running_var"),
                    momentum: v.s("momentum"), next: next)
                return ["running_mean": r.mean, "running_var": r.variance]
            },
            randomized: { k, c in
                let xs = try c.shape("x")
                let stats = k.channelStats(try c.floats("x"), xs)
                let m = Float(try c.scalar("momentum")), count = Float(stats.m)
                let rm = try c.floats("running_mean"), rv = try c.floats("running_var")
                let mean = rm.indices.map { (1 - m) * rm[$0] + m * stats.mean[$0] }
                let variance = rv.indices.map { (1 - m) * rv[$0] + m * stats.variance[$0] * count / (count - 1) }
                let batches = try c.inputs.requireInt("num_batches_tracked").doubles[0]
                return [
                    out32("running_mean", mean, [xs[1]]), out32("running_var", variance, [xs[1]]),
                    ("num_batches_tracked", .scalar(Int64(batches) + 1))
                ]
            })
}

extension ConformancePlugin {
    typealias BNTrainForward = @convention(c) (P, I, I, I, P, P, Double, M, M, M) -> Int32
    typealias BNTrainBackward = @convention(c) (P, P, I, I, I, P, P, P, M, M, M) -> Int32
    typealias BNEvalForward = @convention(c) (P, I, I, I, P, P, P, P, Double, M) -> Int32
    typealias BNRunningUpdate = @convention(c) (P, I, I, I, P, P, I, Double, M, M, UnsafeMutablePointer<Int64>?) -> Int32

    /// batchnorm2d_train, batchnorm1d_train.
    static func batchNormTrain<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (g, _) = try call.input("weight"), (b, _) = try call.input("bias"), (dy, _) = try call.input("dy")
        let (n, ch) = (xs[0], xs[1]), spatial = xs.dropFirst(2).reduce(1, *)
        var y = [T](repeating: .nan, count: x.count), mean = [T](repeating: .nan, count: ch), inv = [T](repeating: .nan, count: ch)
        var dx = [T](repeating: .nan, count: x.count), dg = [T](repeating: .nan, count: ch), db = [T](repeating: .nan, count: ch)
        call.check(
            "batchnorm_train_forward",
            call.fn("batchnorm_train_forward", BNTrainForward.self)(x, i64(n), i64(ch), i64(spatial), g, b, BNConstants.eps, &y, &mean, &inv))
        call.check(
            "batchnorm_train_backward",
            call.fn("batchnorm_train_backward", BNTrainBackward.self)(dy, x, i64(n), i64(ch), i64(spatial), g, mean, inv, &dx, &dg, &db))
        call.emit("y", y, xs)
        call.emit("dx", dx, xs)
        call.emit("dweight", dg, [ch])
        call.emit("dbias", db, [ch])
    }

    /// batchnorm2d_eval, batchnorm1d_eval.
    static func batchNormEval<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (g, _) = try call.input("weight"), (b, _) = try call.input("bias")
        let (rm, _) = try call.input("running_mean"), (rv, _) = try call.input("running_var")
        let spatial = xs.dropFirst(2).reduce(1, *)
        var y = [T](repeating: .nan, count: x.count)
        call.check(
            "batchnorm_eval_forward",
            call.fn("batchnorm_eval_forward", BNEvalForward.self)(x, i64(xs[0]), i64(xs[1]), i64(spatial), g, b, rm, rv, BNConstants.eps, &y))
        call.emit("y", y, xs)
    }

    /// batchnorm_running.
    static func batchNormRunning<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (rm, _) = try call.input("running_mean"), (rv, _) = try call.input("running_var")
        let (n, ch) = (xs[0], xs[1]), spatial = xs.dropFirst(2).reduce(1, *)
        let tracked = try call.inputs.requireInt("num_batches_tracked", shape: []).storage
        guard case .int64(let t) = tracked, let seen = t.first else {
            throw NumPyIOError(file: call.inputs.path, array: "num_batches_tracked", "not an int64 scalar")
        }
        var mean = [T](repeating: .nan, count: ch), variance = [T](repeating: .nan, count: ch)
        var trackedOut = Int64.min  // what the library does not write fails the comparison
        call.check(
            "batchnorm_running_update",
            call.fn("batchnorm_running_update", BNRunningUpdate.self)(
                x, i64(n), i64(ch), i64(spatial), rm, rv, seen, call.inputs["momentum"]?.doubles.first ?? .nan, &mean, &variance, &trackedOut))
        call.emit("running_mean", mean, [ch])
        call.emit("running_var", variance, [ch])
        call.out["num_batches_tracked"] = .scalar(trackedOut)
    }
}

extension RandomizedKernels {

    /// Per channel: mean and biased variance, one pass (E[x^2] - mean^2) or two.
    mutating func channelStats(_ x: [Float], _ xs: [Int]) -> (m: Int, mean: [Float], variance: [Float]) {
        let (n, c, s) = (xs[0], xs[1], xs.dropFirst(2).reduce(1, *))
        let sm = summer(), onePass = rng.next() % 2 == 0
        var mean = [Float](repeating: 0, count: c), variance = mean
        for ci in 0..<c {
            let v = (0..<n).flatMap { ni in (0..<s).map { x[(ni * c + ci) * s + $0] } }
            let mu = sm.sum(v, &rng) / Float(v.count)
            mean[ci] = mu
            variance[ci] =
                onePass ? max(sm.dot(v, v, &rng) / Float(v.count) - mu * mu, 0) : sm.sum(v.map { ($0 - mu) * ($0 - mu) }, &rng) / Float(v.count)
        }
        return (n * s, mean, variance)
    }

    mutating func batchNormTrain(
        x: [Float], _ xs: [Int], gamma: [Float], beta: [Float], dy: [Float]
    )
        -> (y: [Float], dx: [Float], dg: [Float], db: [Float])
    {
        let (n, c, s) = (xs[0], xs[1], xs.dropFirst(2).reduce(1, *))
        let stats = channelStats(x, xs)
        let sm = summer()
        var y = x, dx = x, dg = gamma, db = gamma
        for ci in 0..<c {
            let inv = 1 / (stats.variance[ci] + Float(BNConstants.eps)).squareRoot()
            let idx = (0..<n).flatMap { ni in (0..<s).map { (ni * c + ci) * s + $0 } }
            let xhat = idx.map { (x[$0] - stats.mean[ci]) * inv }
            for (j, i) in idx.enumerated() { y[i] = gamma[ci] * xhat[j] + beta[ci] }
            let g = idx.map { dy[$0] }
            db[ci] = sm.sum(g, &rng)
            dg[ci] = sm.dot(g, xhat, &rng)
            let (m1, m2) = (db[ci] / Float(idx.count), dg[ci] / Float(idx.count))
            for (j, i) in idx.enumerated() { dx[i] = gamma[ci] * inv * (dy[i] - m1 - xhat[j] * m2) }
        }
        return (y, dx, dg, db)
    }

    mutating func batchNormEval(x: [Float], _ xs: [Int], gamma: [Float], beta: [Float], mean: [Float], variance: [Float]) -> [Float] {
        let (c, s) = (xs[1], xs.dropFirst(2).reduce(1, *))
        let folded = rng.next() % 2 == 0
        return x.indices.map { i in
            let ci = (i / s) % c
            let inv = 1 / (variance[ci] + Float(BNConstants.eps)).squareRoot()
            if folded {
                let scale = gamma[ci] * inv
                return x[i] * scale + (beta[ci] - mean[ci] * scale)
            }
            return gamma[ci] * ((x[i] - mean[ci]) * inv) + beta[ci]
        }
    }
}
