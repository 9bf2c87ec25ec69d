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
                guard let plugin = Ops.named(c.function)?.plugin else {
                    throw NumPyIOError(file: cases + "/manifest.json", "\(c.id): '\(c.function)' is not part of the C ABI")
                }
                let outcome =
                    precision == .float32
                    ? try call(lib, c, inputs, precision: precision, plugin.f32)
                    : try call(lib, c, inputs, precision: precision, plugin.f64)
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

    /// One case through the library's functions in precision T: the op's C calls
    /// (`plugin`, from the op table) on a `Call` that holds the inputs and gathers the outputs.
    static func call<T: Scalar>(
        _ lib: Library, _ c: Conformance.Listed, _ inputs: NPZFile, precision: Precision, _ body: (Call<T>) throws -> Void
    ) throws -> Result<[String: NDArray], PluginError> {
        let call = Call<T>(lib: lib, listed: c, inputs: inputs, precision: precision)
        try body(call)
        if let failure = call.failure { return .failure(failure) }
        return .success(call.out)
    }
}

extension Float: ConformancePlugin.Scalar {
    static func array(_ values: [Float], _ shape: [Int]) -> NDArray { NDArray(float32: values, shape: shape) }
}

extension Double: ConformancePlugin.Scalar {
    static func array(_ values: [Double], _ shape: [Int]) -> NDArray { NDArray(float64: values, shape: shape) }
}
