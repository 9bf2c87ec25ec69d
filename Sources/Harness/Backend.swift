import BYOLModel
import Fast
import NumPyIO
import Reference

/// What the golden suite and the cross-validation run against: the whole step and
/// embed, in the backend's precision. A user's own kernels are validated by adding one
/// conformance and registering it in `Backends.all`; `byol goldens verify --backend
/// NAME` and `byol crosscheck --backend NAME` then hold it to the bounds of its
/// precision (INTEROP section 4).
public protocol Backend {
    var name: String { get }
    var precision: DType { get }
    /// One BYOL step; arrays in the backend's precision, `loss` float64.
    func step(_ state: BYOLState, view1: Tensor, view2: Tensor, config: BYOLStep.Config) -> BackendStepResult
    /// Backbone features [N, w3] in eval mode.
    func embed(_ state: BYOLState, images: Tensor, network: String) -> NDArray
}

public struct BackendStepResult {
    /// The whole next state, `loss` included.
    public var next: BYOLState
    public var loss: Double
    /// By full parameter name (`online.backbone.conv1.weight`).
    public var grads: [String: NDArray]
}

/// The float64 reference as a backend.
public struct ReferenceBackend: Backend {
    public let name = "reference (float64)"
    public let precision = DType.float64

    public func step(_ state: BYOLState, view1: Tensor, view2: Tensor, config: BYOLStep.Config) -> BackendStepResult {
        let r = BYOLStep.run(state, view1: view1, view2: view2, config: config)
        return BackendStepResult(next: r.next, loss: r.loss, grads: r.grads.mapValues { NDArray(float64: $0.data, shape: $0.shape) })
    }

    public func embed(_ state: BYOLState, images: Tensor, network: String) -> NDArray {
        let f = Embed.features(state, images: images, network: network)
        return NDArray(float64: f.data, shape: f.shape)
    }
}

/// The float32 OpenBLAS path as a backend.
public struct OpenBLASBackend: Backend {
    public let name = "openblas (float32)"
    public let precision = DType.float32
    public var threads: Int

    public func step(_ state: BYOLState, view1: Tensor, view2: Tensor, config: BYOLStep.Config) -> BackendStepResult {
        let (n, h, w) = (view1.shape[0], view1.shape[2], view1.shape[3])
        let t = FastTrainer(arch: state.arch, batch: n, height: h, width: w, bnViews: config.bnViews, threads: threads)
        t.load(state)
        let loss = t.train(view1: view1.data.map(Float.init), view2: view2.data.map(Float.init), config: config)
        var next = t.exportState()
        // Arrays of the incoming state the step does not own (other optimizers' buffers)
        // travel unchanged, in float32 like the rest.
        for (k, v) in state.arrays where next.arrays[k] == nil && k.hasPrefix("optimizer.") {
            next.arrays[k] = NDArray(float32: v.floats, shape: v.shape)
        }
        next.arrays["loss"] = .scalar(loss)
        let grads = Dictionary(uniqueKeysWithValues: t.exportGradients())
        return BackendStepResult(next: next, loss: loss, grads: grads)
    }

    public func embed(_ state: BYOLState, images: Tensor, network: String) -> NDArray {
        let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
        let e = FastEmbedder(arch: state.arch, batch: n, height: h, width: w, threads: threads)
        e.load(state, network: network)
        return NDArray(float32: e.features(images.data.map(Float.init), count: n), shape: [n, state.arch.featureSize])
    }
}

public enum Backends {
    public static let reference: Backend = ReferenceBackend()
    public static func openblas(threads: Int) -> Backend { OpenBLASBackend(threads: threads) }

    /// Backends by the names `--backend` accepts.
    public static func named(_ name: String, threads: Int) -> Backend? {
        switch name {
        case "reference", "float64": return reference
        case "openblas", "float32": return openblas(threads: threads)
        default: return nil
        }
    }

    public static let names = ["reference", "openblas"]
}
