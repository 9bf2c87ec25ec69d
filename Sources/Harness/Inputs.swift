import BYOLModel
import NumPyIO
import Reference

/// Loading and checking the inputs of `byol step` and `byol embed`: every problem is a
/// one-line error naming the file and the array.
public enum Inputs {
    public static func tensor(_ a: NDArray) -> Tensor { Tensor(shape: a.shape, data: a.doubles) }

    /// An image batch `name` of `file`: float [N, 3, H, W], finite, N >= minBatch.
    public static func images(_ file: NPZFile, _ name: String, minBatch: Int) throws -> Tensor {
        let a = try file.requireFloat(name)
        guard a.shape.count == 4, a.shape[1] == 3, a.shape[2] > 0, a.shape[3] > 0 else {
            throw NumPyIOError(file: file.path, array: name, "shape \(fmt(a.shape)), expected (N, 3, H, W)")
        }
        guard a.shape[0] >= minBatch else {
            throw NumPyIOError(file: file.path, array: name, "batch of \(a.shape[0]), need at least \(minBatch) (BatchNorm in train mode needs 2 samples)")
        }
        return tensor(a)
    }

    /// `view1` and `view2` of a views file: same shape, batch >= 2.
    public static func views(_ path: String) throws -> (Tensor, Tensor) {
        let f = try NPZ.load(path)
        let v1 = try images(f, "view1", minBatch: 2)
        let v2 = try images(f, "view2", minBatch: 2)
        guard v1.shape == v2.shape else {
            throw NumPyIOError(file: path, array: "view2", "shape \(fmt(v2.shape)) differs from view1's \(fmt(v1.shape))")
        }
        return (v1, v2)
    }
}
