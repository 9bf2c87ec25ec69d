import BYOLModel
import NumPyIO
import TestSupport
import Testing

@Suite struct ArchitectureNames {
    @Test func resnet18BackboneParameterCount() {
        // torchvision's resnet18 has 11,689,512 parameters; without its fc (512 * 1000 +
        // 1000) and with a 3x3 instead of 7x7 conv1 (64 * 3 * (49 - 9) fewer) 11,168,832 remain.
        #expect(Architecture.resnet18.backboneParameterCount == 11_168_832)
    }

    @Test func resnet18NamesFollowTorchvision() {
        let names = Architecture.resnet18.onlineSpecs.map(\.name)
        #expect(names.first == "online.backbone.conv1.weight")
        #expect(names.contains("online.backbone.layer2.0.downsample.0.weight"))
        #expect(names.contains("online.backbone.layer4.1.bn2.num_batches_tracked"))
        #expect(!names.contains("online.backbone.layer1.0.downsample.0.weight"))
        #expect(!names.contains("online.backbone.layer2.1.downsample.0.weight"))
        #expect(names.last == "online.predictor.3.bias")
        let shapes = Dictionary(uniqueKeysWithValues: Architecture.resnet18.onlineSpecs.map { ($0.name, $0.shape) })
        #expect(shapes["online.backbone.conv1.weight"] == [64, 3, 3, 3])
        #expect(shapes["online.backbone.layer3.0.downsample.0.weight"] == [256, 128, 1, 1])
        #expect(shapes["online.projector.0.weight"] == [4096, 512])
        #expect(shapes["online.projector.3.weight"] == [256, 4096])
        #expect(shapes["online.predictor.0.weight"] == [4096, 256])
        #expect(shapes["online.predictor.1.running_var"] == [4096])
        // 20 convs + 20 BNs of 5 arrays each, 2 heads of 2 linears (2 arrays) + 1 BN.
        #expect(names.count == 20 + 20 * 5 + 2 * (4 + 5))
        let target = Architecture.resnet18.targetSpecs.map(\.name)
        #expect(target.count == 20 + 20 * 5 + 4 + 5)
        #expect(target.allSatisfy { !$0.contains("predictor") })
    }
}

@Suite struct Initialization {
    /// NumPy's restatement of the documented scheme (ci/make_init_fixture.py) must
    /// match bit for bit, every array and name.
    @Test func matchesNumPyRestatement() throws {
        let expected = try NPZ.load(Repo.fixture("init_tiny_seed3.npz"))
        let state = Initializer.initialState(arch: .tiny, seed: 3)
        #expect(Set(state.arrays.keys) == Set(expected.names))
        for name in expected.names {
            #expect(state.arrays[name] == expected[name], "\(name)")
        }
    }

    @Test func stateFileRoundTripsAndIsDeterministic() throws {
        let dir = TemporaryDirectory()
        let state = Initializer.initialState(arch: .tiny, seed: 11)
        try state.write(to: dir.file("a.npz"))
        try Initializer.initialState(arch: .tiny, seed: 11).write(to: dir.file("b.npz"))
        #expect(readBytes(dir.file("a.npz")) == readBytes(dir.file("b.npz")))
        let back = try BYOLState.read(dir.file("a.npz"))
        #expect(back.arch == .tiny)
        #expect(back.arrays == state.arrays)
        #expect(Initializer.initialState(arch: .tiny, seed: 12).arrays != state.arrays)
    }

    @Test func readRejectsMisshapenState() throws {
        let dir = TemporaryDirectory()
        var state = Initializer.initialState(arch: .tiny, seed: 1)
        state.arrays["target.backbone.bn1.weight"] = NDArray(float64: [1, 2], shape: [2])
        try state.write(to: dir.file("bad.npz"))
        #expect(throws: NumPyIOError(file: dir.file("bad.npz"), array: "target.backbone.bn1.weight", "shape (2,), expected (4,)")) {
            try BYOLState.read(dir.file("bad.npz"))
        }
        state = Initializer.initialState(arch: .tiny, seed: 1)
        state.arrays["target.projector.3.bias"] = nil
        try state.write(to: dir.file("missing.npz"))
        #expect(throws: NumPyIOError(file: dir.file("missing.npz"), array: "target.projector.3.bias", "missing")) {
            try BYOLState.read(dir.file("missing.npz"))
        }
    }
}
