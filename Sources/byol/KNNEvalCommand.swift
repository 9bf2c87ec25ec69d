import ArgumentParser
import BYOLModel
import Data
import Fast
import Foundation
import NumPyIO
import Training

struct KNNEvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn-eval",
        abstract: "Weighted kNN accuracy of a saved state's backbone: bank = the train set (test transform), queries = the test set.")

    @Option(help: "A state or checkpoint (.npz).") var checkpoint: String
    @Option(help: "CIFAR-10 archive or folder (default: the embedded synthetic set).") var data: String?
    @Option(help: "online or target.") var network = "online"
    @Option(parsing: .unconditional, help: "Neighbours, >= 1 (k = N when k > N).") var k = 200
    @Option(parsing: .unconditional, help: "Temperature T of the exp(s / T) weights, >= 1/700.") var temperature = 0.1
    @Option(help: "float32 (OpenBLAS, the pretraining monitor's default) or float64 (the reference: plain loops, minutes on CIFAR-10).")
    var precision: Precision = .float32
    @Option(parsing: .unconditional, help: "Threads of the float32 path, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(name: .customLong("train-limit"), parsing: .unconditional, help: "Use only the first N training images (the bank), N >= 1.")
    var trainLimit: Int?
    @Option(name: .customLong("test-limit"), parsing: .unconditional, help: "Use only the first N test images (the queries), N >= 1.")
    var testLimit: Int?

    func validate() throws {
        try FlagCheck.network(network)
        try FlagCheck.require("--k", k, atLeast: 1)
        try FlagCheck.require("--temperature", temperature, .temperature)
        try FlagCheck.require("--threads", threads, atLeast: 1)
        if let trainLimit { try FlagCheck.require("--train-limit", trainLimit, atLeast: 1) }
        if let testLimit { try FlagCheck.require("--test-limit", testLimit, atLeast: 1) }
    }

    func run() throws {
        let state = try BYOLState.read(checkpoint)
        var c = PretrainConfig()
        c.data = data
        c.trainLimit = trainLimit
        c.testLimit = testLimit
        let d = try Pretrain.loadData(c)
        let engine = try ProgramEngines.require(precision.rawValue, threads: threads)
        try KernelPolicy.process.require(KernelPolicy.monitorShapes(state.arch, train: d.train.count, test: d.test.count), for: engine)
        engine.load(state)
        let acc = KNNMonitor.accuracy(engine, arch: state.arch, network: network, data: d, k: k, temperature: temperature)
        print(
            String(
                format: "%@: kNN accuracy %.2f%% (%@ backbone, k %d, T %g, %d train / %d test images of %@)",
                checkpoint, 100 * acc, network, k, temperature, d.train.count, d.test.count, d.name))
    }
}
