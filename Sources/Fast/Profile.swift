import Foundation

/// Where the float32 step's time goes and how much of it could run in parallel,
/// collected only when enabled (`byol bench --profile`): a few clock reads per layer
/// and per task, nothing in inner loops.
///
/// Per phase (a label around a part of the step): its wall time; the tasks it ran
/// (WorkerPool chunks) and the largest one's share of the phase's work; and, from each
/// task's duration, what the phase would take on T threads with the pool's fixed
/// assignment (chunk c on worker c mod T, a barrier after each pool.run), on top of
/// the phase's serial time outside pool.run. That gives an upper bound on the speed-up
/// that ignores memory bandwidth and synchronization: what the partition allows.
public final class PhaseProfile: @unchecked Sendable {
    public static let shared = PhaseProfile()
    public var enabled = false
    /// Thread counts the bound is computed for.
    public static let boundThreads = [2, 4, 8, 16]

    struct Phase {
        var wall = 0.0  // time inside measure
        var runWall = 0.0  // of which inside pool.run
        var work = 0.0  // sum of task durations
        var tasks = 0, barriers = 0
        var largestTask = 0.0
        var loads = [Double](repeating: 0, count: PhaseProfile.boundThreads.count)  // per bound thread count
    }
    private var phases: [String: Phase] = [:]
    private var order: [String] = []
    private var current: String?
    /// Wall time of whole steps (the caller's), for the part outside any phase.
    private var stepWall = 0.0

    @inline(__always)
    func measure<T>(_ label: String, _ body: () -> T) -> T {
        guard enabled else { return body() }
        let outer = current
        current = label
        let t0 = DispatchTime.now().uptimeNanoseconds
        let r = body()
        let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        current = outer
        if phases[label] == nil {
            order.append(label)
            phases[label] = Phase()
        }
        if outer == nil { phases[label]!.wall += dt }
        return r
    }

    /// One pool.run's task durations and wall time, for the current phase.
    func recordRun(_ durations: UnsafeBufferPointer<Double>, wall: Double) {
        guard let label = current else { return }
        var p = phases[label] ?? Phase()
        if phases[label] == nil { order.append(label) }
        p.runWall += wall
        p.barriers += 1
        p.tasks += durations.count
        for d in durations {
            p.work += d
            p.largestTask = max(p.largestTask, d)
        }
        for (i, t) in Self.boundThreads.enumerated() {
            let w = min(t, durations.count)
            var worst = 0.0
            for worker in 0..<w {
                var s = 0.0
                var c = worker
                while c < durations.count {
                    s += durations[c]
                    c += w
                }
                worst = max(worst, s)
            }
            p.loads[i] += worst
        }
        phases[label] = p
    }

    /// Adds a whole step's wall time (its part outside every phase counts as serial).
    public func addStep(seconds: Double) { if enabled { stepWall += seconds } }

    public func reset() {
        phases = [:]
        order = []
        stepWall = 0
    }

    /// Per phase: "label: s/step (percent), tasks, largest task's share, bound at 2-16
    /// threads"; then the whole step's bound.
    public func report(steps: Int) -> [String] {
        let inPhases = phases.values.reduce(0) { $0 + $1.wall }
        let outside = max(0, stepWall - inPhases)
        let total = max(stepWall, inPhases)
        var lines = [
            "  phase              s/step  share   tasks/step barriers  largest task   speed-up bound at "
                + Self.boundThreads.map { "\($0)" }.joined(separator: "/") + " threads"
        ]
        var work = outside, time = [Double](repeating: outside, count: Self.boundThreads.count)
        func line(_ label: String, wall: Double, tasks: Int, barriers: Int, largest: Double, phaseWork: Double, bound: [Double]) -> String {
            let padded = label.padding(toLength: 18, withPad: " ", startingAt: 0)
            return "  " + padded
                + String(
                    format: " %6.3f  %5.1f%%  %8d %8d   %7.2f%%      ", wall / Double(steps), 100 * wall / total,
                    tasks / max(steps, 1), barriers / max(steps, 1), 100 * largest / max(phaseWork, 1e-12))
                + bound.map { String(format: "%5.1fx", $0) }.joined(separator: " ")
        }
        for label in order {
            let p = phases[label]!
            let serial = max(0, p.wall - p.runWall)
            let phaseWork = serial + p.work
            work += phaseWork
            let bound = p.loads.enumerated().map { i, load in
                time[i] += serial + load
                return phaseWork / max(serial + load, 1e-12)
            }
            lines.append(line(label, wall: p.wall, tasks: p.tasks, barriers: p.barriers, largest: p.largestTask, phaseWork: phaseWork, bound: bound))
        }
        if outside > 0 {
            lines.append(
                line(
                    "outside phases", wall: outside, tasks: 0, barriers: 0, largest: 0, phaseWork: outside,
                    bound: Self.boundThreads.map { _ in 1 }))
        }
        lines.append(
            "  whole step: speed-up bound "
                + zip(Self.boundThreads, time).map { t, s in String(format: "%.1fx at %d", work / max(s, 1e-12), t) }
                .joined(separator: ", ") + " threads (the fixed partition's limit; memory bandwidth and synchronization not counted)")
        return lines
    }

    /// The whole step's bound at each of `boundThreads` (for tests and JSON).
    public func wholeStepBound() -> [Double] {
        let inPhases = phases.values.reduce(0) { $0 + $1.wall }
        let outside = max(0, stepWall - inPhases)
        var work = outside, time = [Double](repeating: outside, count: Self.boundThreads.count)
        for p in phases.values {
            let serial = max(0, p.wall - p.runWall)
            work += serial + p.work
            for i in time.indices { time[i] += serial + p.loads[i] }
        }
        return time.map { work / max($0, 1e-12) }
    }
}
