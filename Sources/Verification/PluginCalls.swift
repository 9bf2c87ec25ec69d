import BYOLModel
import Foundation
import NumPyIO

/// What the C calls of every op (Op.plugin, written beside each op in Ops/) run on: a
/// case's inputs, the traced ABI functions and the outputs, in the worker process for one
/// case, in the precision of the library's functions.
extension ConformancePlugin {
    // The ABI's signatures with tensors as raw pointers: identical for _f32 and _f64
    // (a pointer is a pointer), so one set of types serves both precisions.
    typealias P = UnsafeRawPointer?
    typealias M = UnsafeMutableRawPointer?
    typealias I = Int64

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
}

/// A count as the ABI's int64_t.
func i64(_ v: Int) -> Int64 { Int64(v) }
