import ArgumentParser
import Augment
import Foundation
import Verification

import NumPyIO


struct KNNCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "knn",
        abstract: "Weighted kNN vote: cosine similarity, top-k, exp(s / T) weights (InstDisc / BYOL monitor).")

    @Option(help: "Bank (.npz): `features` [N, F], `labels` int64 [N].") var bank: String
    @Option(help: "Queries (.npz): `features` [M, F], optional `labels` int64 [M].") var queries: String
    @Option(help: "Output (.npz): `predictions`, `scores` [M, C], `accuracy`.") var out: String
    @Option(help: "Neighbours (k = N when k > N).") var k: Int = 200
    @Option(help: "Temperature T of the exp(s / T) weights.") var temperature: Double = 0.1
    @Option(help: "Number of classes C (default: largest label + 1).") var classes: Int?

    func validate() throws {
        guard k > 0 else { throw ValidationError("--k must be positive") }
        guard temperature > 0, temperature.isFinite else { throw ValidationError("--temperature must be a positive number") }
        if let classes, classes <= 0 { throw ValidationError("--classes must be positive") }
    }

    func run() throws {
        let (arrays, r) = try KNNFiles.run(bankPath: bank, queriesPath: queries, k: k, temperature: temperature, classes: classes)
        try NPZ.write(arrays, to: out)
        let acc = r.accuracy.map { String(format: ", accuracy %.4f", $0) } ?? ""
        print("wrote \(out): \(r.predictions.count) predictions, k \(k), T \(temperature)\(acc)")
    }
}
