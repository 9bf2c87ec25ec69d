import BYOLModel
import Foundation
import NumPyIO

// Fuzz target `state`: any bytes as a state file. `BYOLState.read` either refuses it with
// a one-line error naming the file, or returns a state that satisfies the contract
// (docs/contract.md §2): the architecture valid, every array of it present with its
// shape, floats finite, running variances non-negative, `step` a 0-d int64. (Writing
// back is the npz target's property; here it would cost most of each run.)

let input = scratchPath("state.npz")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzState(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    writeScratch(data, size, to: input)
    guard let state = loadOrRefuse(input, { try BYOLState.read(input) }) else { return 0 }
    do { try state.arch.validate() } catch { violated("accepted an invalid architecture: \(error)") }
    for spec in state.arch.onlineSpecs + state.arch.targetSpecs {
        guard let a = state.arrays[spec.name] else { violated("accepted a state without \(spec.name)") }
        require(a.shape == (spec.kind == .bnBatchCount ? [] : spec.shape), "\(spec.name): shape \(a.shape), expected \(spec.shape)")
        require(a.isFinite, "\(spec.name): accepted a NaN or Inf")
        if spec.kind == .bnRunningVar { require(!a.doubles.contains { $0 < 0 }, "\(spec.name): accepted a negative variance") }
    }
    guard let step = state.arrays["step"], step.dtype == .int64, step.shape == [] else { violated("accepted a bad step") }
    return 0
}
