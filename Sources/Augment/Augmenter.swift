import Foundation

/// Two augmented views per image (docs/contract.md §3, `byol augment`). A view depends
/// only on (seed, epoch, image index, view): images are processed independently, in
/// parallel, each into its own output slot, so the bytes do not depend on the batch or
/// the thread count.
public struct Augmenter: Sendable {
    /// CIFAR-10 channel statistics used by `normalize`.
    public static let mean = [0.4914, 0.4822, 0.4465]
    public static let std = [0.2470, 0.2435, 0.2616]

    public var seed: UInt64
    public var epoch: UInt64
    public var recipe: Recipe
    public var size: Int

    public init(seed: UInt64, epoch: UInt64 = 0, recipe: Recipe = .cifar, size: Int = 32) {
        self.seed = seed
        self.epoch = epoch
        self.recipe = recipe
        self.size = size
    }

    /// Blur kernel size for the output size: odd, about a tenth of it (3 at 32, 23 at 224).
    public var blurKernel: Int { 2 * (size / 20) + 1 }

    /// pixels / 255 as a float image; `pixels` is [3, H, W] uint8.
    public static func toFloat(_ pixels: UnsafeBufferPointer<UInt8>, height: Int, width: Int) -> Image {
        Image(height: height, width: width, data: pixels.map { Double($0) / 255 })
    }

    /// The view of one image with the given parameters, normalized.
    public func apply(_ image: Image, _ p: ViewParams) -> Image {
        var x = ImageOps.resizedCrop(image, top: p.top, left: p.left, height: p.height, width: p.width, size: size)
        if p.flip { x = ImageOps.horizontalFlip(x) }
        if p.jitter {
            for op in p.jitterOrder {
                switch op {
                case 0: x = ImageOps.adjustBrightness(x, p.jitterFactors[0])
                case 1: x = ImageOps.adjustContrast(x, p.jitterFactors[1])
                case 2: x = ImageOps.adjustSaturation(x, p.jitterFactors[2])
                default: x = ImageOps.adjustHue(x, p.jitterFactors[3])
                }
            }
        }
        if p.grayscale { x = ImageOps.grayscale(x) }
        if p.blur { x = ImageOps.gaussianBlur(x, kernelSize: blurKernel, sigma: p.sigma) }
        if p.solarize { x = ImageOps.solarize(x) }
        return ImageOps.normalize(x, mean: Self.mean, std: Self.std)
    }

    public struct Batch {
        /// view1, view2: [N, 3, size, size]
        public var views: [[Double]]
        /// params[v][n]: the parameters of view v + 1 of image n.
        public var params: [[ViewParams]]
    }

    /// Both views of every image. `images` is [N, 3, H, W] uint8, `indices` [N] the
    /// images' indices in their data set. `threads` only changes the speed.
    public func run(images: [UInt8], count n: Int, height: Int, width: Int, indices: [Int64], threads: Int) -> Batch {
        let per = 3 * size * size
        var view1 = [Double](repeating: 0, count: n * per), view2 = view1
        var params1 = [ViewParams?](repeating: nil, count: n), params2 = params1
        let chunks = max(1, min(threads, n))
        view1.withUnsafeMutableBufferPointer { v1 in
            view2.withUnsafeMutableBufferPointer { v2 in
                params1.withUnsafeMutableBufferPointer { p1 in
                    params2.withUnsafeMutableBufferPointer { p2 in
                        images.withUnsafeBufferPointer { img in
                            let outs = [v1, v2], ps = [p1, p2]
                            // Fixed work per image; chunking only decides who does it.
                            DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
                                for i in stride(from: chunk, to: n, by: chunks) {
                                    let src = UnsafeBufferPointer(rebasing: img[i * 3 * height * width..<(i + 1) * 3 * height * width])
                                    let image = Self.toFloat(src, height: height, width: width)
                                    for v in 0..<2 {
                                        let p = ViewParams.draw(
                                            seed: seed, index: UInt64(bitPattern: indices[i]), epoch: epoch,
                                            view: v + 1, imageHeight: height, imageWidth: width, recipe: recipe)
                                        let out = apply(image, p)
                                        for j in 0..<per { outs[v][i * per + j] = out.data[j] }
                                        ps[v][i] = p
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Batch(views: [view1, view2], params: [params1.map { $0! }, params2.map { $0! }])
    }
}
