import ArgumentParser
import Augment
import BYOLModel
import Data
import Foundation
import Training
import NumPyIO

struct KNNEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn-eval",
        abstract: "Weighted kNN accuracy of a saved state's backbone: bank = the train set (test transform), queries = the test set.")

    @Option(help: "A state or checkpoint (.npz).") var checkpoint: String
    @Option(help: "CIFAR-10 archive or folder (default: the embedded synthetic set).") var data: String?
    @Option(help: "online or target.") var network = "online"
    @Option var k = 200
    @Option var temperature = 0.1
    @Option(help: "float32 (OpenBLAS, the pretraining monitor's default) or float64 (the reference: plain loops, minutes on CIFAR-10).")
    var precision: Precision = .float32
    @Option(help: "Threads of the float32 path.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("train-limit")) var trainLimit: Int?
    @Option(name: .customLong("test-limit")) var testLimit: Int?

    func validate() throws {
        guard network == "online" || network == "target" else { throw ValidationError("--network must be online or target, got '\(network)'") }
        guard k > 0, threads > 0, temperature.isFinite, temperature > 0 else { throw ValidationError("need --k > 0, --temperature > 0, --threads > 0") }
        for (flag, v) in [("--train-limit", trainLimit), ("--test-limit", testLimit)] {
            if let v, v < 1 { throw ValidationError("\(flag) must be at least 1, got \(v)") }
        }
    }

    func run() throws {
        let state = try BYOLState.read(checkpoint)
        var c = PretrainConfig()
        c.data = data
        c.trainLimit = trainLimit
        c.testLimit = testLimit
        let d = try Pretrain.loadData(c)
        let engine = try ProgramEngines.require(precision.rawValue, threads: threads)
        engine.load(state)
        let acc = KNNMonitor.accuracy(engine, network: network, data: d, k: k, temperature: temperature)
        print(String(format: "%@: kNN accuracy %.2f%% (%@ backbone, k %d, T %g, %d train / %d test images of %@)",
                     checkpoint, 100 * acc, network, k, temperature, d.train.count, d.test.count, d.name))
    }
}
