import CBLAS
import CPUID

/// The CPU's vendor, family, model and the instruction sets OpenBLAS's kernels need,
/// read with cpuid and xgetbv (instructions the OS does not save state for count as absent).
public struct CPUFeatures: Sendable, Equatable {
    public enum Vendor: String, Sendable { case intel = "Intel", amd = "AMD", other }
    public var vendor: Vendor
    public var family: Int, model: Int
    /// AVX2 and FMA, with the YMM state saved by the OS.
    public var avx2: Bool
    /// AVX-512 F, DQ, BW and VL (what OpenBLAS's SkylakeX kernels use), ZMM state saved.
    public var avx512: Bool

    public init(vendor: Vendor, family: Int, model: Int, avx2: Bool, avx512: Bool) {
        (self.vendor, self.family, self.model, self.avx2, self.avx512) = (vendor, family, model, avx2, avx512)
    }

    public static func detect() -> CPUFeatures {
        var f = byol_cpu_features()
        byol_cpu_detect(&f)
        let vendor: Vendor = f.vendor == 1 ? .intel : f.vendor == 2 ? .amd : .other
        let avx2 = f.avx2 != 0 && f.fma != 0 && f.osYMM != 0
        let avx512 = avx2 && f.avx512f != 0 && f.avx512dq != 0 && f.avx512bw != 0 && f.avx512vl != 0 && f.osZMM != 0
        return CPUFeatures(vendor: vendor, family: Int(f.family), model: Int(f.model), avx2: avx2, avx512: avx512)
    }

    /// "Intel family 6 model 207, AVX-512".
    public var summary: String {
        "\(vendor.rawValue) family \(family) model \(model), " + (avx512 ? "AVX-512" : avx2 ? "AVX2" : "no AVX2")
    }
}

/// Which OpenBLAS kernel set the float32 path should run on. OpenBLAS (a DYNAMIC_ARCH
/// build, as Debian's) picks its kernels from the CPU when the library loads, and falls
/// back to generic SSE3 (Prescott) ones on CPUs newer than its table: Debian's 0.3.21 on
/// an Intel family 6 model 207 runs 3.5x slower than it could. The choice is made
/// again here from the instruction sets alone.
public enum KernelSelection {
    /// OpenBLAS x86-64 kernel sets by the widest vector instructions they use.
    public enum Tier: Int, Comparable, Sendable {
        case sse = 1, avx = 2, avx2 = 3, avx512 = 4
        public static func < (a: Tier, b: Tier) -> Bool { a.rawValue < b.rawValue }
    }

    /// The tier of an OpenBLAS core name (`openblas_get_corename()` spelling, any case);
    /// nil for names this table does not know (other architectures, newer sets).
    public static func tier(ofCore name: String) -> Tier? {
        switch name.lowercased() {
        case "skylakex", "cooperlake", "sapphirerapids": return .avx512
        case "haswell", "zen", "excavator": return .avx2
        case "sandybridge", "bulldozer", "piledriver", "steamroller": return .avx
        case "prescott", "core2", "penryn", "dunnington", "nehalem", "atom", "barcelona", "opteron", "opteron_sse3",
            "athlon", "nano", "katmai", "coppermine", "northwood", "banias", "unknown":
            return .sse
        default: return nil
        }
    }

    /// The kernel set to run on `cpu`, as `OPENBLAS_CORETYPE` spells it: SkylakeX for
    /// AVX-512 (its sgemm kernels are also what OpenBLAS runs for Cooperlake and later),
    /// Haswell for Intel with AVX2, Zen for AMD with AVX2 (same kernels, AMD's cache
    /// parameters); nil below AVX2, where OpenBLAS's own choice is left alone.
    public static func bestCore(for cpu: CPUFeatures) -> String? {
        if cpu.avx512 { return "SkylakeX" }
        if cpu.avx2 { return cpu.vendor == .amd ? "Zen" : "Haswell" }
        return nil
    }

    /// The set to re-run with when OpenBLAS loaded `loaded` on `cpu` by itself, or nil to
    /// keep it: only a known set of a lower tier than the CPU supports is replaced.
    public static func replacement(loaded: String, cpu: CPUFeatures) -> String? {
        guard let best = bestCore(for: cpu), let have = tier(ofCore: loaded), let want = tier(ofCore: best), have < want else { return nil }
        return best
    }

    /// The kernel set OpenBLAS loaded.
    public static var loadedCore: String { BLASInfo.core }
}
