import BYOLModel
import Foundation
import NumPyIO

/// The C calls of each op of the table that the ABI has (Op.plugin): what runs in the
/// worker process for one case, in the precision of the library's functions.
extension ConformancePlugin {
    // The ABI's signatures with tensors as raw pointers: identical for _f32 and _f64
    // (a pointer is a pointer), so one set of types serves both precisions.
    typealias P = UnsafeRawPointer?
    typealias M = UnsafeMutableRawPointer?
    typealias I = Int64
    typealias Conv2dForward = @convention(c) (P, I, I, I, I, P, I, I, I, I, M) -> Int32
    typealias Conv2dBackwardData = @convention(c) (P, I, I, I, I, P, I, I, I, I, I, I, M) -> Int32
    typealias Conv2dBackwardWeights = @convention(c) (P, I, I, I, I, P, I, I, I, I, I, I, M) -> Int32
    typealias BNTrainForward = @convention(c) (P, I, I, I, P, P, Double, M, M, M) -> Int32
    typealias BNTrainBackward = @convention(c) (P, P, I, I, I, P, P, P, M, M, M) -> Int32
    typealias BNEvalForward = @convention(c) (P, I, I, I, P, P, P, P, Double, M) -> Int32
    typealias BNRunningUpdate = @convention(c) (P, I, I, I, P, P, I, Double, M, M, UnsafeMutablePointer<Int64>?) -> Int32
    typealias LinearForward = @convention(c) (P, I, I, P, I, P, M) -> Int32
    typealias LinearBackward = @convention(c) (P, P, I, I, P, I, M, M, M) -> Int32
    typealias Elementwise = @convention(c) (P, I, M) -> Int32
    typealias ReluBackward = @convention(c) (P, P, I, M) -> Int32
    typealias PoolForward = @convention(c) (P, I, I, I, M) -> Int32
    typealias LossForward = @convention(c) (P, P, I, I, UnsafeMutablePointer<Double>?) -> Int32
    typealias LossBackward = @convention(c) (P, P, I, I, M) -> Int32
    typealias SymmetricLossForward = @convention(c) (P, P, P, P, I, I, UnsafeMutablePointer<Double>?) -> Int32
    typealias SymmetricLossBackward = @convention(c) (P, P, P, P, I, I, M, M) -> Int32
    typealias EMAUpdate = @convention(c) (P, P, I, Double, M) -> Int32

    /// One case's calls into the library in precision T: its inputs, the ABI functions
    /// (traced, so a crash names its symbol), a failure code, the outputs.
    final class Call<T: Scalar> {
        let lib: Library
        let listed: Conformance.Listed
        let inputs: NPZFile
        let precision: Precision
        var failure: PluginError?
        var out: [String: NDArray] = [:]

        init(lib: Library, listed: Conformance.Listed, inputs: NPZFile, precision: Precision) {
            (self.lib, self.listed, self.inputs, self.precision) = (lib, listed, inputs, precision)
        }

        var params: [String: Int] { listed.params }
        var function: String { listed.function }

        func input(_ name: String) throws -> (values: [T], shape: [Int]) {
            let a = try inputs.requireFloat(name)
            return (a.doubles.map { T($0) }, a.shape)
        }

        /// The trace brackets each call: `fn` is evaluated right before the call, `check`
        /// right after it returns.
        func fn<F>(_ name: String, _: F.Type) -> F {
            guard let f = lib.symbol(symbol(name, precision)) else { fatalError("\(symbol(name, precision)) was checked to exist") }
            lib.trace.note("call " + symbol(name, precision))
            return unsafeBitCast(f, to: F.self)
        }

        func check(_ name: String, _ status: Int32) {
            lib.trace.note("done " + symbol(name, precision))
            if status != 0 && failure == nil { failure = PluginError(description: "\(symbol(name, precision)) returned error \(status)") }
        }

        func emit(_ name: String, _ values: [T], _ shape: [Int]) { out[name] = T.array(values, shape) }
    }

    /// A pair of one op's calls, for float32 and float64 libraries.
    struct Entry: Sendable {
        let f32: @Sendable (Call<Float>) throws -> Void
        let f64: @Sendable (Call<Double>) throws -> Void
    }

    /// conv2d.
    static func conv2d<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (w, ws) = try call.input("weight"), (dy, dys) = try call.input("dy")
        let (n, ch, h, wd, k, r) = (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2])
        let (stride, pad) = (call.params["stride"] ?? 1, call.params["pad"] ?? 0)
        let (ho, wo) = (dys[2], dys[3])
        var y = [T](repeating: .nan, count: n * k * ho * wo), dx = [T](repeating: .nan, count: x.count), dw = [T](repeating: .nan, count: w.count)
        call.check(
            "conv2d_forward",
            call.fn("conv2d_forward", Conv2dForward.self)(x, i64(n), i64(ch), i64(h), i64(wd), w, i64(k), i64(r), i64(stride), i64(pad), &y))
        call.check(
            "conv2d_backward_data",
            call.fn("conv2d_backward_data", Conv2dBackwardData.self)(
                dy, i64(n), i64(k), i64(ho), i64(wo), w, i64(ch), i64(r), i64(stride), i64(pad), i64(h), i64(wd), &dx))
        call.check(
            "conv2d_backward_weights",
            call.fn("conv2d_backward_weights", Conv2dBackwardWeights.self)(
                x, i64(n), i64(ch), i64(h), i64(wd), dy, i64(k), i64(ho), i64(wo), i64(r), i64(stride), i64(pad), &dw))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
        call.emit("dweight", dw, ws)
    }

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

    /// linear.
    static func linear<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (w, ws) = try call.input("weight"), (b, _) = try call.input("bias"), (dy, dys) = try call.input("dy")
        let (n, inF, outF) = (xs[0], xs[1], ws[0])
        var y = [T](repeating: .nan, count: n * outF), dx = [T](repeating: .nan, count: x.count)
        var dw = [T](repeating: .nan, count: w.count), db = [T](repeating: .nan, count: outF)
        call.check("linear_forward", call.fn("linear_forward", LinearForward.self)(x, i64(n), i64(inF), w, i64(outF), b, &y))
        call.check("linear_backward", call.fn("linear_backward", LinearBackward.self)(dy, x, i64(n), i64(inF), w, i64(outF), &dx, &dw, &db))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
        call.emit("dweight", dw, ws)
        call.emit("dbias", db, [outF])
    }

    /// relu.
    static func relu<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (dy, _) = try call.input("dy")
        var y = [T](repeating: .nan, count: x.count), dx = [T](repeating: .nan, count: x.count)
        call.check("relu_forward", call.fn("relu_forward", Elementwise.self)(x, i64(x.count), &y))
        call.check("relu_backward", call.fn("relu_backward", ReluBackward.self)(dy, x, i64(x.count), &dx))
        call.emit("y", y, xs)
        call.emit("dx", dx, xs)
    }

    /// avgpool.
    static func avgPool<T: Scalar>(_ call: Call<T>) throws {
        let (x, xs) = try call.input("x"), (dy, dys) = try call.input("dy")
        let (n, ch, hw) = (xs[0], xs[1], xs[2] * xs[3])
        var y = [T](repeating: .nan, count: n * ch), dx = [T](repeating: .nan, count: x.count)
        call.check("avgpool_forward", call.fn("avgpool_forward", PoolForward.self)(x, i64(n), i64(ch), i64(hw), &y))
        call.check("avgpool_backward", call.fn("avgpool_backward", PoolForward.self)(dy, i64(n), i64(ch), i64(hw), &dx))
        call.emit("y", y, dys)
        call.emit("dx", dx, xs)
    }

    /// loss.
    static func loss<T: Scalar>(_ call: Call<T>) throws {
        let (p, ps) = try call.input("p"), (z, _) = try call.input("z")
        var loss = Double.nan
        var dp = [T](repeating: .nan, count: p.count)
        call.check("loss_forward", call.fn("loss_forward", LossForward.self)(p, z, i64(ps[0]), i64(ps[1]), &loss))
        call.check("loss_backward", call.fn("loss_backward", LossBackward.self)(p, z, i64(ps[0]), i64(ps[1]), &dp))
        call.out["loss"] = .scalar(loss)
        call.emit("dp", dp, ps)
    }

    /// symmetric_loss.
    static func symmetricLoss<T: Scalar>(_ call: Call<T>) throws {
        let (p1, ps) = try call.input("p1"), (p2, _) = try call.input("p2"), (z1, _) = try call.input("z1"), (z2, _) = try call.input("z2")
        var loss = Double.nan
        var dp1 = [T](repeating: .nan, count: p1.count), dp2 = [T](repeating: .nan, count: p2.count)
        call.check(
            "symmetric_loss_forward", call.fn("symmetric_loss_forward", SymmetricLossForward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &loss))
        call.check(
            "symmetric_loss_backward",
            call.fn("symmetric_loss_backward", SymmetricLossBackward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &dp1, &dp2))
        call.out["loss"] = .scalar(loss)
        call.emit("dp1", dp1, ps)
        call.emit("dp2", dp2, ps)
    }

    /// ema.
    static func ema<T: Scalar>(_ call: Call<T>) throws {
        let (t, ts) = try call.input("target"), (o, _) = try call.input("online")
        var out2 = [T](repeating: .nan, count: t.count)
        call.check("ema_update", call.fn("ema_update", EMAUpdate.self)(t, o, i64(t.count), call.inputs["tau"]?.doubles.first ?? .nan, &out2))
        call.emit("target", out2, ts)
    }
}

/// A count as the ABI's int64_t.
func i64(_ v: Int) -> Int64 { Int64(v) }
