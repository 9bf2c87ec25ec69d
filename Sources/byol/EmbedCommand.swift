import ArgumentParser
import BYOLModel
import CommandFiles
import Fast
import Foundation
import NumPyIO
import Verification

struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Backbone features in eval mode (BN running statistics) for a batch of images.")

    @Option(help: "State (.npz).") var state: String
    @Option(help: "Images (.npz) with `images`, float [N, 3, H, W], used as given.") var images: String
    @Option(help: "Output (.npz) with `features` [N, w3].") var out: String
    @Option(help: "online or target.") var network: String = "online"
    @OptionGroup var engineOptions: EngineOptions

    func validate() throws {
        try FlagCheck.output("--out", out)
        try FlagCheck.network(network)
    }

    func run() throws {
        try AtomicFile.checkWritable(out)
        let s = try BYOLState.read(state)
        let x = try Inputs.images(try NPZ.load(images), "images", minBatch: 1)
        let engine = engineOptions.engine()
        try KernelPolicy.process.require(GEMMPlan.embed(arch: s.arch, images: x.shape[0], height: x.shape[2], width: x.shape[3]), for: engine)
        let f = engine.embed(s, images: NDArray(x), network: network)
        guard f.isFinite else { throw NumPyIOError(file: out, array: "features", "NaN or Inf in the features; nothing written") }
        try NPZ.writeOutput([("features", f)], to: out)
        print("wrote \(out): features \(fmt(f.shape)) from the \(network) backbone (\(engine.name), \(engine.precision))")
    }
}
