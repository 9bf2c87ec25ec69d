import BYOLModel
import NumPyIO
import Reference

/// Loading and checking the inputs of `byol step` and `byol embed`: every problem is a
/// one-line error naming the file and the array.
public enum Inputs {
    public static func tensor(_ a: NDArray) -> Tensor { Tensor(shape: a.shape, data: a.doubles) }

    /// An image batch `name` of `file`: float [N, 3, H, W], finite, N >= minBatch
    /// (`why` says what needs that many).
    public static func images(_ file: NPZFile, _ name: String, minBatch: Int, why: String = "") throws -> Tensor {
        let a = try file.requireFloat(name)
        guard a.shape.count == 4, a.shape[1] == 3, a.shape[2] > 0, a.shape[3] > 0 else {
            throw NumPyIOError(file: file.path, array: name, "shape \(fmt(a.shape)), expected (N, 3, H, W)")
        }
        guard a.shape[0] >= minBatch else {
            throw NumPyIOError(file: file.path, array: name, "batch of \(a.shape[0]), need at least \(minBatch)\(why)")
        }
        return tensor(a)
    }

    /// `view1` and `view2` of a views file: same shape, and enough samples for the heads'
    /// BatchNorm1d, which in train mode needs at least 2 values per feature: N >= 2 when
    /// each view is its own BN batch, N >= 1 when both views share one (2N values).
    public static func views(_ path: String, bnViews: BNViews) throws -> (Tensor, Tensor) {
        let f = try NPZ.load(path)
        let (minBatch, why) =
            bnViews == .separate
            ? (2, " (with --bn-views separate each view is its own BatchNorm batch, which needs 2 samples)")
            : (1, "")
        let v1 = try images(f, "view1", minBatch: minBatch, why: why)
        let v2 = try images(f, "view2", minBatch: minBatch, why: why)
        guard v1.shape == v2.shape else {
            throw NumPyIOError(file: path, array: "view2", "shape \(fmt(v2.shape)) differs from view1's \(fmt(v1.shape))")
        }
        return (v1, v2)
    }
}
