import BYOLModel
import CByolKernels
import Foundation
import NumPyIO

#if canImport(Glibc)
    import Glibc
#endif

/// Runs the exported conformance cases through a shared library that implements
/// byol_kernels.h (`byol conformance run --plugin`).
///
/// The library is untrusted code: it is loaded only in child processes (ConformancePlugin
/// +Isolation), one to check that it loads and speaks an ABI version this harness knows,
/// then one per case. The parent never dlopens it; what runs here in `Library` and
/// `call` is the child's side, and `judge` is the parent's.
public enum ConformancePlugin {
    public struct PluginError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// The ABI functions each case function needs (without `byol_` and the precision
    /// suffix): the op table's.
    public static let needs = Dictionary(uniqueKeysWithValues: Ops.all.filter { !$0.wholeNetwork }.map { ($0.name, $0.abi) })

    /// The ABI version that added an ABI function (the op table's).
    public static let introduced = Dictionary(Ops.all.flatMap { op in op.abi.map { ($0, op.abiVersion) } }, uniquingKeysWith: max)

    /// The ABI versions this harness loads: a library of an older version lacks the
    /// functions added since, which are skipped.
    public static let versions: ClosedRange<Int32> = 1...BYOL_KERNELS_ABI_VERSION

    /// The symbol of ABI function `name` in a precision: byol_NAME_f32 or byol_NAME_f64.
    static func symbol(_ name: String, _ precision: Precision) -> String {
        "byol_" + name + (precision == .float32 ? "_f32" : "_f64")
    }

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
    typealias SGDUpdate = @convention(c) (P, P, P, I, Double, Double, Double, M, M) -> Int32
    typealias LARSUpdate = @convention(c) (P, P, P, I, Int32, Double, Double, Double, Double, M, M) -> Int32
    typealias AdamUpdate = @convention(c) (P, P, P, P, I, I, Double, Double, Double, Double, Double, M, M, M) -> Int32
    typealias EMAUpdate = @convention(c) (P, P, I, Double, M) -> Int32

    /// What a worker process did last, one line per event, written straight to a file
    /// (unbuffered) so that it survives the process: which symbol a crash was in.
    final class Trace {
        let fd: Int32
        init(_ path: String?) { fd = path.map { open($0, O_WRONLY | O_CREAT | O_APPEND, 0o644) } ?? -1 }
        func note(_ line: String) {
            guard fd >= 0 else { return }
            let bytes = Array((line + "\n").utf8)
            _ = bytes.withUnsafeBufferPointer { write(fd, $0.baseAddress, $0.count) }
        }
        deinit { if fd >= 0 { close(fd) } }
    }

    /// A loaded library: its path, ABI version and a symbol lookup. Only worker
    /// processes load one (`byol conformance plugin-worker`).
    public final class Library {
        public let path: String
        public let version: Int32
        let handle: UnsafeMutableRawPointer
        let trace: Trace

        /// Loads `path` and checks byol_kernels_abi_version().
        init(_ path: String, trace: Trace) throws {
            guard FileManager.default.fileExists(atPath: path) else { throw PluginError(description: "\(path): no such file") }
            // A path without a slash would be searched for in the library path, not here.
            let resolved = path.contains("/") ? path : "./" + path
            trace.note("load \(path)")
            guard let h = dlopen(resolved, RTLD_NOW | RTLD_LOCAL) else {
                let why = dlerror().map { String(cString: $0) } ?? "unknown error"
                throw PluginError(description: "\(path): cannot load: \(why.split(separator: "\n").first ?? "")")
            }
            self.path = path
            self.trace = trace
            handle = h
            guard let v = dlsym(h, "byol_kernels_abi_version") else {
                throw PluginError(description: "\(path): no byol_kernels_abi_version symbol: not a byol kernels library (byol_kernels.h)")
            }
            trace.note("call byol_kernels_abi_version")
            version = unsafeBitCast(v, to: (@convention(c) () -> Int32).self)()
            trace.note("done byol_kernels_abi_version")
            guard ConformancePlugin.versions.contains(version) else {
                throw PluginError(
                    description: "\(path): ABI version \(version), this byol loads versions "
                        + "\(ConformancePlugin.versions.lowerBound) to \(ConformancePlugin.versions.upperBound) (byol_kernels.h)")
            }
        }

        // Never dlclose: the worker ends right after its case, and a library's destructors
        // are more of its code to run.

        func symbol(_ name: String) -> UnsafeMutableRawPointer? { dlsym(handle, name) }
    }

    /// The result of running a library on the cases.
    public struct Report {
        public var findings: [Conformance.Finding]
        /// Exported-case functions the library cannot run, and why (the ABI symbols it
        /// lacks, or that the function is not part of the C ABI).
        public var skipped: [(function: String, reason: String)]
    }

    /// The precision of the ABI functions a tier runs: float64 for the float64 tier,
    /// float32 for every other.
    public static func storage(_ judged: Conformance.Judged) -> Precision { judged == .tier(.float64) ? .float64 : .float32 }

    /// The verdict on one case: its outputs (or why there are none) against the case's
    /// expected values and bounds at `judged`, one finding per output tensor
    /// (Conformance.judge, as `check` does). A failure (an error code, a crash, a hang)
    /// fails every output of the case with its message.
    static func judge(
        _ c: Conformance.Listed, _ outcome: Result<[String: NDArray], PluginError>, cases dir: String, file: String,
        judged: Conformance.Judged
    ) throws -> [Conformance.Finding] {
        switch outcome {
        case .success(let outputs):
            let members = outputs.sorted { $0.key < $1.key }.map { (name: $0.key, array: $0.value) }
            return try Conformance.judge(
                c, cases: dir, outputs: members, dtypes: outputs.mapValues(\.dtype.rawValue), failure: "",
                file: file, judged: judged)
        case .failure(let error):
            return try Conformance.judge(c, cases: dir, outputs: nil, dtypes: [:], failure: error.description, file: file, judged: judged)
        }
    }

    /// Case functions the library cannot run and why, in report order: those whose ABI
    /// symbols `has` denies, and those outside the C ABI.
    static func skipped(
        has: (_ symbol: String, _ function: String) -> Bool, precision: Precision,
        only: Set<String>?
    ) -> (skipped: [(function: String, reason: String)], available: Set<String>) {
        var skipped: [(function: String, reason: String)] = []
        var available = Set<String>()
        for (function, abi) in needs {
            let missing = abi.filter { !has(symbol($0, precision), $0) }
                .map { f in symbol(f, precision) + (introduced[f].map { $0 > 1 ? " (ABI version \($0))" : "" } ?? "") }
            if missing.isEmpty { available.insert(function) }
            if !missing.isEmpty && (only?.contains(function) ?? true) {
                skipped.append((function, "needs " + missing.joined(separator: ", ")))
            }
        }
        for function in Conformance.functions where needs[function] == nil && (only?.contains(function) ?? true) {
            skipped.append((function, "not part of the C ABI: check its results through the file route"))
        }
        let order = Conformance.functions
        skipped.sort { (order.firstIndex(of: $0.function) ?? order.count) < (order.firstIndex(of: $1.function) ?? order.count) }
        return (skipped, available)
    }

    // MARK: The worker's side

    /// What a worker leaves in its folder: `status.json` last, written whole, and for a
    /// case that ran, `result.npz` before it.
    enum Status: String {
        /// Probe: the library loaded (with `abi_version` and the `symbols` it exports);
        /// case: every function returned 0 and result.npz holds the outputs.
        case ok
        /// A function returned an error code (`message`).
        case failed
        /// The library cannot be used at all: not loadable, no version symbol, another ABI version.
        case refused
        /// The harness could not do its part (an unreadable case file).
        case error
    }

    /// A worker process's whole job: load `library`, then run case `caseID` of `cases`
    /// (or, without one, report the symbols it exports), and leave the status in `out`.
    /// The caller then ends the process at once, running nothing more of the library
    /// (no destructors, no atexit handlers).
    public static func work(library: String, cases: String?, caseID: String?, precision: Precision, out: String) throws {
        let trace = Trace(out + "/trace")
        var status: [String: Any]
        do {
            let lib = try Library(library, trace: trace)
            if let cases, let caseID {
                guard let c = try Conformance.readManifest(cases).first(where: { $0.id == caseID }) else {
                    throw NumPyIOError(file: cases + "/manifest.json", "no case '\(caseID)'")
                }
                let inputs = try NPZ.load("\(cases)/\(c.id)/inputs.npz")
                let outcome =
                    precision == .float32
                    ? try call(lib, c, inputs, precision: precision, Float.self)
                    : try call(lib, c, inputs, precision: precision, Double.self)
                switch outcome {
                case .success(let outputs):
                    trace.note("write")
                    try NPZ.write(outputs.sorted { $0.key < $1.key }.map { (name: $0.key, array: $0.value) }, to: out + "/result.npz")
                    status = ["result": Status.ok.rawValue]
                case .failure(let e):
                    status = ["result": Status.failed.rawValue, "message": e.description]
                }
            } else {
                let symbols = needs.values.joined().map { symbol($0, precision) }.filter { lib.symbol($0) != nil }
                status = ["result": Status.ok.rawValue, "abi_version": Int(lib.version), "symbols": Array(Set(symbols)).sorted()]
            }
        } catch let e as PluginError {
            status = ["result": Status.refused.rawValue, "message": e.description]
        } catch {
            status = ["result": Status.error.rawValue, "message": "\(error)"]
        }
        try AtomicFile.write(out + "/status.json", data: try JSONSerialization.data(withJSONObject: status, options: [.sortedKeys]))
    }

    /// Float or Double buffers and the NDArray of a result.
    protocol Scalar: BinaryFloatingPoint, BitwiseCopyable { static func array(_ values: [Self], _ shape: [Int]) -> NDArray }

    /// One case through the library's functions in precision T.
    static func call<T: Scalar>(
        _ lib: Library, _ c: Conformance.Listed, _ inputs: NPZFile, precision: Precision, _: T.Type
    )
        throws -> Result<[String: NDArray], PluginError>
    {
        func input(_ name: String) throws -> (values: [T], shape: [Int]) {
            let a = try inputs.requireFloat(name)
            return (a.doubles.map { T($0) }, a.shape)
        }
        // The trace brackets each call: `fn` is evaluated right before the call, `check`
        // right after it returns.
        func fn<F>(_ name: String, _: F.Type) -> F {
            guard let f = lib.symbol(symbol(name, precision)) else { fatalError("\(symbol(name, precision)) was checked to exist") }
            lib.trace.note("call " + symbol(name, precision))
            return unsafeBitCast(f, to: F.self)
        }
        var failure: PluginError?
        func check(_ name: String, _ status: Int32) {
            lib.trace.note("done " + symbol(name, precision))
            if status != 0 && failure == nil { failure = PluginError(description: "\(symbol(name, precision)) returned error \(status)") }
        }
        var out: [String: NDArray] = [:]
        func emit(_ name: String, _ values: [T], _ shape: [Int]) { out[name] = T.array(values, shape) }
        let i64 = { Int64($0) } as (Int) -> Int64
        switch c.function {
        case "conv2d":
            let (x, xs) = try input("x"), (w, ws) = try input("weight"), (dy, dys) = try input("dy")
            let (n, ch, h, wd, k, r) = (xs[0], xs[1], xs[2], xs[3], ws[0], ws[2])
            let (stride, pad) = (c.params["stride"] ?? 1, c.params["pad"] ?? 0)
            let (ho, wo) = (dys[2], dys[3])
            var y = [T](repeating: .nan, count: n * k * ho * wo), dx = [T](repeating: .nan, count: x.count), dw = [T](repeating: .nan, count: w.count)
            check(
                "conv2d_forward",
                fn("conv2d_forward", Conv2dForward.self)(x, i64(n), i64(ch), i64(h), i64(wd), w, i64(k), i64(r), i64(stride), i64(pad), &y))
            check(
                "conv2d_backward_data",
                fn("conv2d_backward_data", Conv2dBackwardData.self)(
                    dy, i64(n), i64(k), i64(ho), i64(wo), w, i64(ch), i64(r), i64(stride), i64(pad), i64(h), i64(wd), &dx))
            check(
                "conv2d_backward_weights",
                fn("conv2d_backward_weights", Conv2dBackwardWeights.self)(
                    x, i64(n), i64(ch), i64(h), i64(wd), dy, i64(k), i64(ho), i64(wo), i64(r), i64(stride), i64(pad), &dw))
            emit("y", y, dys)
            emit("dx", dx, xs)
            emit("dweight", dw, ws)
        case "batchnorm2d_train", "batchnorm1d_train":
            let (x, xs) = try input("x"), (g, _) = try input("weight"), (b, _) = try input("bias"), (dy, _) = try input("dy")
            let (n, ch) = (xs[0], xs[1]), spatial = xs.dropFirst(2).reduce(1, *)
            var y = [T](repeating: .nan, count: x.count), mean = [T](repeating: .nan, count: ch), inv = [T](repeating: .nan, count: ch)
            var dx = [T](repeating: .nan, count: x.count), dg = [T](repeating: .nan, count: ch), db = [T](repeating: .nan, count: ch)
            check(
                "batchnorm_train_forward",
                fn("batchnorm_train_forward", BNTrainForward.self)(x, i64(n), i64(ch), i64(spatial), g, b, BNConstants.eps, &y, &mean, &inv))
            check(
                "batchnorm_train_backward",
                fn("batchnorm_train_backward", BNTrainBackward.self)(dy, x, i64(n), i64(ch), i64(spatial), g, mean, inv, &dx, &dg, &db))
            emit("y", y, xs)
            emit("dx", dx, xs)
            emit("dweight", dg, [ch])
            emit("dbias", db, [ch])
        case "batchnorm2d_eval", "batchnorm1d_eval":
            let (x, xs) = try input("x"), (g, _) = try input("weight"), (b, _) = try input("bias")
            let (rm, _) = try input("running_mean"), (rv, _) = try input("running_var")
            let spatial = xs.dropFirst(2).reduce(1, *)
            var y = [T](repeating: .nan, count: x.count)
            check(
                "batchnorm_eval_forward",
                fn("batchnorm_eval_forward", BNEvalForward.self)(x, i64(xs[0]), i64(xs[1]), i64(spatial), g, b, rm, rv, BNConstants.eps, &y))
            emit("y", y, xs)
        case "batchnorm_running":
            let (x, xs) = try input("x"), (rm, _) = try input("running_mean"), (rv, _) = try input("running_var")
            let (n, ch) = (xs[0], xs[1]), spatial = xs.dropFirst(2).reduce(1, *)
            let tracked = try inputs.requireInt("num_batches_tracked", shape: []).storage
            guard case .int64(let t) = tracked, let seen = t.first else {
                throw NumPyIOError(file: inputs.path, array: "num_batches_tracked", "not an int64 scalar")
            }
            var mean = [T](repeating: .nan, count: ch), variance = [T](repeating: .nan, count: ch)
            var trackedOut = Int64.min  // what the library does not write fails the comparison
            check(
                "batchnorm_running_update",
                fn("batchnorm_running_update", BNRunningUpdate.self)(
                    x, i64(n), i64(ch), i64(spatial), rm, rv, seen, inputs["momentum"]?.doubles.first ?? .nan, &mean, &variance, &trackedOut))
            emit("running_mean", mean, [ch])
            emit("running_var", variance, [ch])
            out["num_batches_tracked"] = .scalar(trackedOut)
        case "linear":
            let (x, xs) = try input("x"), (w, ws) = try input("weight"), (b, _) = try input("bias"), (dy, dys) = try input("dy")
            let (n, inF, outF) = (xs[0], xs[1], ws[0])
            var y = [T](repeating: .nan, count: n * outF), dx = [T](repeating: .nan, count: x.count)
            var dw = [T](repeating: .nan, count: w.count), db = [T](repeating: .nan, count: outF)
            check("linear_forward", fn("linear_forward", LinearForward.self)(x, i64(n), i64(inF), w, i64(outF), b, &y))
            check("linear_backward", fn("linear_backward", LinearBackward.self)(dy, x, i64(n), i64(inF), w, i64(outF), &dx, &dw, &db))
            emit("y", y, dys)
            emit("dx", dx, xs)
            emit("dweight", dw, ws)
            emit("dbias", db, [outF])
        case "relu":
            let (x, xs) = try input("x"), (dy, _) = try input("dy")
            var y = [T](repeating: .nan, count: x.count), dx = [T](repeating: .nan, count: x.count)
            check("relu_forward", fn("relu_forward", Elementwise.self)(x, i64(x.count), &y))
            check("relu_backward", fn("relu_backward", ReluBackward.self)(dy, x, i64(x.count), &dx))
            emit("y", y, xs)
            emit("dx", dx, xs)
        case "avgpool":
            let (x, xs) = try input("x"), (dy, dys) = try input("dy")
            let (n, ch, hw) = (xs[0], xs[1], xs[2] * xs[3])
            var y = [T](repeating: .nan, count: n * ch), dx = [T](repeating: .nan, count: x.count)
            check("avgpool_forward", fn("avgpool_forward", PoolForward.self)(x, i64(n), i64(ch), i64(hw), &y))
            check("avgpool_backward", fn("avgpool_backward", PoolForward.self)(dy, i64(n), i64(ch), i64(hw), &dx))
            emit("y", y, dys)
            emit("dx", dx, xs)
        case "loss":
            let (p, ps) = try input("p"), (z, _) = try input("z")
            var loss = Double.nan
            var dp = [T](repeating: .nan, count: p.count)
            check("loss_forward", fn("loss_forward", LossForward.self)(p, z, i64(ps[0]), i64(ps[1]), &loss))
            check("loss_backward", fn("loss_backward", LossBackward.self)(p, z, i64(ps[0]), i64(ps[1]), &dp))
            out["loss"] = .scalar(loss)
            emit("dp", dp, ps)
        case "symmetric_loss":
            let (p1, ps) = try input("p1"), (p2, _) = try input("p2"), (z1, _) = try input("z1"), (z2, _) = try input("z2")
            var loss = Double.nan
            var dp1 = [T](repeating: .nan, count: p1.count), dp2 = [T](repeating: .nan, count: p2.count)
            check("symmetric_loss_forward", fn("symmetric_loss_forward", SymmetricLossForward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &loss))
            check(
                "symmetric_loss_backward",
                fn("symmetric_loss_backward", SymmetricLossBackward.self)(p1, p2, z1, z2, i64(ps[0]), i64(ps[1]), &dp1, &dp2))
            out["loss"] = .scalar(loss)
            emit("dp1", dp1, ps)
            emit("dp2", dp2, ps)
        case "sgd", "lars", "adam":
            let (p, ps) = try input("param"), (g, _) = try input("grad")
            func h(_ n: String) -> Double { inputs[n]?.doubles.first ?? .nan }
            var pOut = [T](repeating: .nan, count: p.count), b1 = [T](repeating: .nan, count: p.count), b2 = [T](repeating: .nan, count: p.count)
            if c.function == "adam" {
                let (m, _) = try input("exp_avg"), (v, _) = try input("exp_avg_sq")
                let step = Int64(inputs["step"]?.doubles.first ?? 0)
                check(
                    "adam_update",
                    fn("adam_update", AdamUpdate.self)(
                        p, g, m, v, i64(p.count), step, h("lr"), h("beta1"), h("beta2"), h("eps"),
                        h("weight_decay"), &pOut, &b1, &b2))
                emit("param", pOut, ps)
                emit("exp_avg", b1, ps)
                emit("exp_avg_sq", b2, ps)
            } else {
                let (buf, _) = try input("momentum_buffer")
                if c.function == "sgd" {
                    check(
                        "sgd_update", fn("sgd_update", SGDUpdate.self)(p, g, buf, i64(p.count), h("lr"), h("momentum"), h("weight_decay"), &pOut, &b1)
                    )
                } else {
                    check(
                        "lars_update",
                        fn("lars_update", LARSUpdate.self)(
                            p, g, buf, i64(p.count), ps.count > 1 ? 1 : 0, h("lr"), h("momentum"),
                            h("weight_decay"), h("eta"), &pOut, &b1))
                }
                emit("param", pOut, ps)
                emit("momentum_buffer", b1, ps)
            }
        case "ema":
            let (t, ts) = try input("target"), (o, _) = try input("online")
            var out2 = [T](repeating: .nan, count: t.count)
            check("ema_update", fn("ema_update", EMAUpdate.self)(t, o, i64(t.count), inputs["tau"]?.doubles.first ?? .nan, &out2))
            emit("target", out2, ts)
        default:
            throw NumPyIOError(file: inputs.path, "\(c.id): unknown function '\(c.function)'")
        }
        if let failure { return .failure(failure) }
        return .success(out)
    }
}

extension Float: ConformancePlugin.Scalar {
    static func array(_ values: [Float], _ shape: [Int]) -> NDArray { NDArray(float32: values, shape: shape) }
}

extension Double: ConformancePlugin.Scalar {
    static func array(_ values: [Double], _ shape: [Int]) -> NDArray { NDArray(float64: values, shape: shape) }
}
