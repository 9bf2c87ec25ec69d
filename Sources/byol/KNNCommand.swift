import ArgumentParser
import CommandFiles
import Foundation
import NumPyIO
import Verification

struct KNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn",
        abstract: "Weighted kNN vote: cosine similarity, top-k, exp(s / T) weights (InstDisc / BYOL monitor).")

    @Option(help: "Bank (.npz): `features` [N, F], `labels` int64 [N].") var bank: String
    @Option(help: "Queries (.npz): `features` [M, F], optional `labels` int64 [M].") var queries: String
    @Option(help: "Output (.npz): `predictions`, `scores` [M, C], `accuracy`.") var out: String
    @Option(parsing: .unconditional, help: "Neighbours, >= 1 (k = N when k > N).") var k: Int = 200
    @Option(parsing: .unconditional, help: "Temperature T of the exp(s / T) weights, >= 1/700.") var temperature: Double = 0.1
    @Option(parsing: .unconditional, help: "Number of classes C, >= 1 (default: largest label + 1).") var classes: Int?

    func validate() throws {
        try FlagCheck.output("--out", out)
        try FlagCheck.require("--k", k, atLeast: 1)
        try FlagCheck.require("--temperature", temperature, .temperature)
        if let classes { try FlagCheck.require("--classes", classes, atLeast: 1) }
    }

    func run() throws {
        try AtomicFile.checkWritable(out)
        let (arrays, r) = try KNNFiles.run(bankPath: bank, queriesPath: queries, k: k, temperature: temperature, classes: classes)
        try NPZ.writeOutput(arrays, to: out)
        let acc = r.accuracy.map { String(format: ", accuracy %.4f", $0) } ?? ""
        print("wrote \(out): \(r.predictions.count) predictions, k \(k), T \(temperature)\(acc)")
    }
}
