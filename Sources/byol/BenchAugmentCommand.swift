import ArgumentParser
import Augment
import Foundation
import NumPyIO

struct BenchAugmentCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-augment",
        abstract: "Augmentation throughput: both views of every image, median images/s over repeats.")

    @Option(help: "Images (.npz): `images` uint8 [N, 3, H, W].") var images: String
    @Option(parsing: .unconditional, help: "Worker threads, >= 1.") var threads: Int = ProcessInfo.processInfo.activeProcessorCount
    @Option(parsing: .unconditional, help: "Timed repeats, >= 1 (after one warm-up).") var repeats: Int = 5
    @Option(help: "cifar or byol.") var recipe: Recipe = .cifar
    @Flag(help: "Print one JSON object.") var json = false

    func validate() throws {
        try FlagCheck.require("--threads", threads, atLeast: 1)
        try FlagCheck.require("--repeats", repeats, atLeast: 1)
    }

    func run() throws {
        let f = try NPZ.load(images)
        let a = try f.require("images")
        guard case .uint8(let px) = a.storage, a.shape.count == 4, a.shape[1] == 3 else {
            throw NumPyIOError(file: images, array: "images", "expected uint8 [N, 3, H, W], got \(a.dtype.rawValue) \(fmt(a.shape))")
        }
        let (n, h, w) = (a.shape[0], a.shape[2], a.shape[3])
        let indices = (0..<n).map(Int64.init)
        var rates: [Double] = []
        for r in 0...repeats {
            let aug = Augmenter(seed: 0, epoch: UInt64(r), recipe: recipe, size: 32)
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = aug.run(images: px, count: n, height: h, width: w, indices: indices, threads: threads)
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if r > 0 { rates.append(Double(n) / dt) }
        }
        let median = Timing.median(rates)
        if json {
            print("{\"images_per_second\": \(median), \"threads\": \(threads), \"images\": \(n), \"repeats\": \(repeats)}")
        } else {
            print(
                String(
                    format: "byol augment (float64, recipe %@): %.0f images/s (two views each), median of %d, %d threads, %d images",
                    recipe.rawValue, median, repeats, threads, n))
        }
    }
}
