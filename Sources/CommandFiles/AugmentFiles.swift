import Augment
import Foundation
import NumPyIO

/// `byol augment` on files: reads and checks `images` (uint8 [N, 3, H, W]) and optional
/// `indices` (int64 [N]), returns the output arrays of docs/contract.md §3.
public enum AugmentFiles {
    public static func run(imagesPath: String, augmenter: Augmenter, threads: Int) throws -> [(name: String, array: NDArray)] {
        let f = try NPZ.load(imagesPath)
        let images = try f.require("images")
        guard case .uint8(let pixels) = images.storage else {
            throw NumPyIOError(file: imagesPath, array: "images", "dtype \(images.dtype.rawValue), expected |u1 (uint8 pixels)")
        }
        guard images.shape.count == 4, images.shape[1] == 3, images.shape[0] > 0, images.shape[2] > 0, images.shape[3] > 0 else {
            throw NumPyIOError(file: imagesPath, array: "images", "shape \(fmt(images.shape)), expected (N, 3, H, W) with N, H, W > 0")
        }
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        var indices = (0..<n).map(Int64.init)
        if f["indices"] != nil {
            guard case .int64(let v) = try f.requireInt("indices", shape: [n]).storage else { fatalError() }
            if let bad = v.firstIndex(where: { $0 < 0 }) {
                throw NumPyIOError(file: imagesPath, array: "indices", "negative index \(v[bad]) at position \(bad)")
            }
            indices = v
        }
        let batch = augmenter.run(images: pixels, count: n, height: h, width: w, indices: indices, threads: threads)
        let s = augmenter.size
        var out: [(name: String, array: NDArray)] = [
            ("view1", NDArray(float64: batch.views[0], shape: [n, 3, s, s])),
            ("view2", NDArray(float64: batch.views[1], shape: [n, 3, s, s])),
            ("mean", NDArray(float64: Augmenter.mean, shape: [3])),
            ("std", NDArray(float64: Augmenter.std, shape: [3]))
        ]
        func flag(_ b: Bool) -> Int64 { b ? 1 : 0 }
        for v in 0..<2 {
            let p = batch.params[v]
            let name = "view\(v + 1)."
            out += [
                (name + "crop", NDArray(int64: p.flatMap { [$0.top, $0.left, $0.height, $0.width].map(Int64.init) }, shape: [n, 4])),
                (name + "flip", NDArray(int64: p.map { flag($0.flip) }, shape: [n])),
                (name + "jitter", NDArray(int64: p.map { flag($0.jitter) }, shape: [n])),
                (name + "jitter_order", NDArray(int64: p.flatMap { $0.jitterOrder.map(Int64.init) }, shape: [n, 4])),
                (name + "jitter_factors", NDArray(float64: p.flatMap(\.jitterFactors), shape: [n, 4])),
                (name + "grayscale", NDArray(int64: p.map { flag($0.grayscale) }, shape: [n])),
                (name + "blur", NDArray(int64: p.map { flag($0.blur) }, shape: [n])),
                (name + "sigma", NDArray(float64: p.map(\.sigma), shape: [n])),
                (name + "solarize", NDArray(int64: p.map { flag($0.solarize) }, shape: [n]))
            ]
        }
        return out
    }
}
