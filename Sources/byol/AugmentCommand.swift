import ArgumentParser
import Augment
import CommandFiles
import Foundation
import NumPyIO
import Verification

extension Recipe: ExpressibleByArgument {}

struct AugmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "augment",
        abstract: "Two seeded augmented views of each image (NumPy Philox draws, torchvision v2 ops in float64).")

    @Option(parsing: .unconditional, help: "Seed S of the random stream: Philox key [S, 0], counter [0, index, epoch, view].") var seed: UInt64
    @Option(help: "Images (.npz): `images` uint8 [N, 3, H, W], optional `indices` int64 [N].") var images: String
    @Option(help: "Output (.npz): views, normalization constants and every drawn parameter.") var out: String
    @Option(parsing: .unconditional, help: "Epoch E: the third word of the Philox counter.") var epoch: UInt64 = 0
    @Option(help: "cifar (no blur, solarize view 2 at p 0.2) or byol (blur p 1.0 / 0.1).") var recipe: Recipe = .cifar
    @Option(parsing: .unconditional, help: "Output size of the square views, >= 1.") var size: Int = 32
    @Option(parsing: .unconditional, help: "Worker threads, >= 1 (the output does not depend on it).") var threads: Int = ProcessInfo.processInfo
        .activeProcessorCount

    func validate() throws {
        try FlagCheck.output("--out", out)
        try FlagCheck.require("--size", size, atLeast: 1)
        try FlagCheck.require("--threads", threads, atLeast: 1)
    }

    func run() throws {
        try AtomicFile.checkWritable(out)
        let aug = Augmenter(seed: seed, epoch: epoch, recipe: recipe, size: size)
        let arrays = try AugmentFiles.run(imagesPath: images, augmenter: aug, threads: threads)
        try NPZ.writeOutput(arrays, to: out)
        print("wrote \(out): 2 views of \(arrays[0].array.shape[0]) images, \(size)x\(size), recipe \(recipe.rawValue), seed \(seed), epoch \(epoch)")
    }
}
