import CBLAS

/// What OpenBLAS runs on: its kernel set (chosen at load time from the CPU, or from
/// OPENBLAS_CORETYPE) and its build configuration. Benchmarks print both, because the
/// kernel set alone can change sgemm throughput by 1.4x on the same machine.
public enum BLASInfo {
    public static var core: String { String(cString: openblas_get_corename()) }
    public static var config: String { String(cString: openblas_get_config()) }
}
