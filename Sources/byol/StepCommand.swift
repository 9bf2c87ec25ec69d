import ArgumentParser
import BYOLModel
import Foundation
import Harness
import NumPyIO
import Reference

enum Precision: String, ExpressibleByArgument, CaseIterable {
    case float64, float32
}

extension OptimizerKind: ExpressibleByArgument {}
extension BNViews: ExpressibleByArgument {}

/// The optimizer and EMA flags of `byol step` (INTEROP section 3).
struct OptimizerOptions: ParsableArguments {
    @Option(help: "lars, sgd or adam.")
    var optimizer: OptimizerKind = .lars

    @Option(help: "Learning rate (default: 0.2 for lars, 0.05 for sgd, 0.001 for adam).")
    var lr: Double?

    @Option(help: "Momentum of sgd and lars.")
    var momentum: Double = 0.9

    @Option(name: .customLong("weight-decay"), help: "Weight decay added to the gradient (default 1.5e-6 for lars, 0 otherwise).")
    var weightDecay: Double?

    @Option(name: .customLong("lars-eta"), help: "LARS trust coefficient.")
    var larsEta: Double = 0.001

    @Option(name: .customLong("adam-beta1")) var adamBeta1: Double = 0.9
    @Option(name: .customLong("adam-beta2")) var adamBeta2: Double = 0.999
    @Option(name: .customLong("adam-eps")) var adamEps: Double = 1e-8

    @Option(help: "EMA decay of the target: target += (1 - tau) (online - target).")
    var tau: Double = 0.996

    @Option(name: .customLong("bn-views"), help: "separate: each view its own BN batch; joint: one batch of 2N.")
    var bnViews: BNViews = .separate

    func validate() throws {
        for (flag, v) in [("--lr", lr ?? 0), ("--momentum", momentum), ("--weight-decay", weightDecay ?? 0), ("--lars-eta", larsEta),
                          ("--adam-beta1", adamBeta1), ("--adam-beta2", adamBeta2), ("--adam-eps", adamEps), ("--tau", tau)] {
            guard v.isFinite else { throw ValidationError("\(flag) must be a finite number") }
        }
        guard (0...1).contains(tau) else { throw ValidationError("--tau \(tau) is outside [0, 1]") }
        guard (0..<1).contains(adamBeta1), (0..<1).contains(adamBeta2) else { throw ValidationError("Adam betas must be in [0, 1)") }
    }

    var stepConfig: BYOLStep.Config {
        let defaultLR: Double = optimizer == .lars ? 0.2 : (optimizer == .sgd ? 0.05 : 1e-3)
        let opt = OptimizerConfig(kind: optimizer, lr: lr ?? defaultLR, momentum: momentum,
                                  weightDecay: weightDecay ?? (optimizer == .lars ? 1.5e-6 : 0), larsEta: larsEta,
                                  adamBeta1: adamBeta1, adamBeta2: adamBeta2, adamEps: adamEps)
        return BYOLStep.Config(optimizer: opt, tau: tau, bnViews: bnViews)
    }
}


struct Step: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "One BYOL training step on given views: loss, gradients, optimizer, EMA (INTEROP section 3).")

    @Option(help: "Incoming state (.npz).") var state: String
    @Option(help: "Views (.npz) with view1 and view2, float [N, 3, H, W].") var views: String
    @Option(help: "Output: the next state plus loss (.npz).") var out: String
    @Option(help: "Also write the gradients, grad.<parameter name>, taken before the update.") var grads: String?
    @Option(help: "float64 (the reference) or float32 (OpenBLAS).") var precision: Precision = .float64
    @Option(help: "Threads of the float32 path (the output does not depend on it).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @OptionGroup var optimizerOptions: OptimizerOptions

    func validate() throws {
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let s = try BYOLState.read(state)
        let (v1, v2) = try Inputs.views(views, bnViews: optimizerOptions.bnViews)
        // Fail before the step (minutes in float64 on ResNet-18), not after it.
        for path in [out] + (grads.map { [$0] } ?? []) { try AtomicFile.checkWritable(path) }
        let backend = precision == .float64 ? Backends.reference : Backends.openblas(threads: threads)
        let r = backend.step(s, view1: v1, view2: v2, config: optimizerOptions.stepConfig)
        // Both files or neither.
        var files = [(members: r.next.members, path: out)]
        if let grads {
            files.append((s.arch.learnableSpecs.map { ("grad." + $0.name, r.grads[$0.name]!) }, grads))
        }
        try NPZ.writeTogether(files)
        print("step \(s.step) -> \(r.next.step): loss \(r.loss) (\(backend.name))")
    }
}

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Backbone features in eval mode (BN running statistics) for a batch of images.")

    @Option(help: "State (.npz).") var state: String
    @Option(help: "Images (.npz) with `images`, float [N, 3, H, W], used as given.") var images: String
    @Option(help: "Output (.npz) with `features` [N, w3].") var out: String
    @Option(help: "online or target.") var network: String = "online"
    @Option(help: "float64 (the reference) or float32 (OpenBLAS).") var precision: Precision = .float64
    @Option(help: "Threads of the float32 path (the output does not depend on it).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard network == "online" || network == "target" else { throw ValidationError("--network must be online or target, got '\(network)'") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let s = try BYOLState.read(state)
        let x = try Inputs.images(try NPZ.load(images), "images", minBatch: 1)
        let backend = precision == .float64 ? Backends.reference : Backends.openblas(threads: threads)
        let f = backend.embed(s, images: x, network: network)
        try NPZ.write([("features", f)], to: out)
        print("wrote \(out): features \(fmt(f.shape)) from the \(network) backbone (\(backend.name))")
    }
}
