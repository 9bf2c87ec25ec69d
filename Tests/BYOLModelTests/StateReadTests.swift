import BYOLModel
import NumPyIO
import TestSupport
import Testing

/// What `BYOLState.read` refuses beyond names and shapes (issue #14, item 8).
@Suite struct StateReadChecks {
    func write(_ d: TemporaryDirectory, _ edit: (inout [String: NDArray]) -> Void) throws -> String {
        var s = Initializer.initialState(arch: .tiny, seed: 1)
        edit(&s.arrays)
        let path = d.file("s.npz")
        try NPZ.write(s.orderedNames.map { ($0, s.arrays[$0]!) }, to: path)
        return path
    }

    @Test func unknownArrayIsNamed() throws {
        let d = TemporaryDirectory()
        // A corrupted member name, as a flipped byte in the zip's name field leaves it.
        let path = try write(d) { a in
            a["online.backbone.conv1.weighs"] = a["online.backbone.conv1.weight"]
        }
        #expect { _ = try BYOLState.read(path) } throws: { e in
            "\(e)".contains("array 'online.backbone.conv1.weighs': not an array of a state of this architecture")
        }
    }

    @Test func lossAndCheckpointArraysAreAccepted() throws {
        let d = TemporaryDirectory()
        let path = try write(d) { a in
            a["loss"] = .scalar(1.5)
            a["pretrain.epoch"] = .scalar(Int64(2))
        }
        #expect(throws: Never.self) { _ = try BYOLState.read(path) }
    }

    /// Issue #23, row 3: a `step` or `num_batches_tracked` of INT64_MAX trapped in
    /// `byol step`; negative counts were accepted.
    @Test func countsOutsideZeroTo2p53AreRefused() throws {
        let d = TemporaryDirectory()
        for (name, value) in [
            ("step", Int64.max), ("step", -1), ("online.backbone.bn1.num_batches_tracked", Int64.max),
            ("target.projector.1.num_batches_tracked", -5), ("step", (1 << 53) + 1)
        ] {
            let path = try write(d) { a in a[name] = .scalar(value) }
            #expect { _ = try BYOLState.read(path) } throws: { e in
                "\(e)".contains("array '\(name)': count \(value) is outside 0...2^53")
            }
        }
        let path = try write(d) { a in a["step"] = .scalar(Int64(1) << 53) }
        #expect(throws: Never.self) { _ = try BYOLState.read(path) }
    }

    @Test func negativeRunningVarianceIsRefused() throws {
        let d = TemporaryDirectory()
        let path = try write(d) { a in
            a["target.backbone.bn1.running_var"] = NDArray(float64: [1, 1, -0.5, 1], shape: [4])
        }
        #expect { _ = try BYOLState.read(path) } throws: { e in
            "\(e)".contains("array 'target.backbone.bn1.running_var': negative variance -0.5 at flat index 2")
        }
    }
}
