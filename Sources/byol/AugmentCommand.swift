import ArgumentParser
import Augment
import Foundation
import Harness
import NumPyIO

extension Recipe: ExpressibleByArgument {}

struct AugmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment",
        abstract: "Two seeded augmented views of each image (NumPy Philox draws, torchvision v2 ops in float64).")

    @Option(help: "Seed S of the random stream: Philox key [S, 0], counter [0, index, epoch, view].") var seed: UInt64
    @Option(help: "Images (.npz): `images` uint8 [N, 3, H, W], optional `indices` int64 [N].") var images: String
    @Option(help: "Output (.npz): views, normalization constants and every drawn parameter.") var out: String
    @Option(help: "Epoch E.") var epoch: UInt64 = 0
    @Option(help: "cifar (no blur, solarize view 2 at p 0.2) or byol (blur p 1.0 / 0.1).") var recipe: Recipe = .cifar
    @Option(help: "Output size of the square views.") var size: Int = 32
    @Option(help: "Worker threads (the output does not depend on it).") var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    func validate() throws {
        guard size > 0 else { throw ValidationError("--size must be positive") }
        guard threads > 0 else { throw ValidationError("--threads must be positive") }
    }

    func run() throws {
        let aug = Augmenter(seed: seed, epoch: epoch, recipe: recipe, size: size)
        let arrays = try AugmentFiles.run(imagesPath: images, augmenter: aug, threads: threads)
        try NPZ.write(arrays, to: out)
        print("wrote \(out): 2 views of \(arrays[0].array.shape[0]) images, \(size)x\(size), recipe \(recipe.rawValue), seed \(seed), epoch \(epoch)")
    }
}

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
