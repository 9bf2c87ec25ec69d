import ArgumentParser
import BYOLModel
import CommandFiles
import Fast
import Foundation
import NumPyIO
import Verification

struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "One BYOL training step on given views: loss, gradients, optimizer, EMA (docs/contract.md §3).")

    @Option(help: "Incoming state (.npz).") var state: String
    @Option(help: "Views (.npz) with view1 and view2, float [N, 3, H, W].") var views: String
    @Option(help: "Output: the next state plus loss (.npz).") var out: String
    @Option(help: "Also write the gradients, grad.<parameter name>, taken before the update.") var grads: String?
    @OptionGroup var engineOptions: EngineOptions
    @OptionGroup var optimizerOptions: OptimizerOptions

    func validate() throws {
        try FlagCheck.output("--out", out)
        try FlagCheck.output("--grads", grads)
        if let grads, Self.sameFile(grads, out) {
            throw ValidationError("--grads names the same file as --out (\(out)); the two outputs need two files")
        }
    }

    /// Whether two paths name one file (after resolving `.`, `..` and symbolic links).
    static func sameFile(_ a: String, _ b: String) -> Bool {
        URL(fileURLWithPath: a).standardizedFileURL.resolvingSymlinksInPath().path
            == URL(fileURLWithPath: b).standardizedFileURL.resolvingSymlinksInPath().path
    }

    func run() throws {
        let s = try BYOLState.read(state)
        let (v1, v2) = try Inputs.views(views, bnViews: optimizerOptions.bnViews)
        // Fail before the step (minutes in float64 on ResNet-18), not after it.
        for path in [out] + (grads.map { [$0] } ?? []) { try AtomicFile.checkWritable(path) }
        let engine = engineOptions.engine()
        try KernelPolicy.process.require(GEMMPlan.step(arch: s.arch, batch: v1.shape[0], height: v1.shape[2], width: v1.shape[3]), for: engine)
        let r = engine.step(from: s, view1: NDArray(v1), view2: NDArray(v2), config: optimizerOptions.stepConfig)
        // No file holding NaN or Inf is written (docs/contract.md §1.3): name the first one.
        guard r.loss.isFinite else { throw NumPyIOError(file: out, "step \(s.step + 1): the loss is \(r.loss); nothing written") }
        if let bad = s.arch.learnableSpecs.first(where: { r.grads[$0.name]?.isFinite == false }) {
            throw NumPyIOError(file: grads ?? out, array: "grad." + bad.name, "step \(s.step + 1): NaN or Inf in the gradient; nothing written")
        }
        if let bad = r.next.firstNonFiniteArray() {
            throw NumPyIOError(file: out, array: bad, "step \(s.step + 1): NaN or Inf in the next state; nothing written")
        }
        // Both files or neither.
        var files = [(members: r.next.members, path: out)]
        if let grads {
            files.append((s.arch.learnableSpecs.map { ("grad." + $0.name, r.grads[$0.name]!) }, grads))
        }
        try NPZ.writeOutputsTogether(files)
        print("step \(s.step) -> \(r.next.step): loss \(r.loss) (\(engine.name), \(engine.precision))")
    }
}
