import AWSClient
import Prometheus
import ServiceLifecycle

/// Assembles the answers of `/metrics` (every target's snapshot, the cumulative AWS call metrics, build and process
/// metrics) and of `/probe` (one target's snapshot).
public struct MetricsPage: Sendable {
    public let scheduler: any CollectionScheduler & Service
    public let selfMetrics: ExporterSelfMetrics
    public let renderer: SnapshotRenderer
    public let processMetrics: ProcessMetrics

    public init(
        scheduler: any CollectionScheduler & Service, selfMetrics: ExporterSelfMetrics, processMetrics: ProcessMetrics
    ) {
        self.scheduler = scheduler
        self.selfMetrics = selfMetrics
        self.renderer = SnapshotRenderer(helpSuffix: scheduler.helpSuffix)
        self.processMetrics = processMetrics
    }

    /// Collects (or reuses) and renders; answers by `deadline` whatever AWS does.
    public func render(deadline: MonotonicInstant) async -> [UInt8] {
        let snapshots = await scheduler.snapshots(deadline: deadline)
        var writer = PrometheusTextWriter(reservingCapacity: Self.capacity(for: snapshots))
        renderer.render(snapshots, into: &writer)
        writer.appendRaw(selfMetrics.registry.emitToBuffer())
        BuildInfo.render(into: &writer)
        processMetrics.render(into: &writer)
        return writer.bytes
    }

    /// One target's series only, for `/probe`; `nil` when no target has that name.
    public func renderProbe(target name: String, deadline: MonotonicInstant) async -> [UInt8]? {
        guard let snapshot = await scheduler.snapshot(of: name, deadline: deadline) else { return nil }
        var writer = PrometheusTextWriter(reservingCapacity: Self.capacity(for: [snapshot]))
        renderer.render([snapshot], into: &writer)
        return writer.bytes
    }

    /// About 1.1 KiB of exposition per instance; reserving it up front avoids regrowing a large buffer.
    static func capacity(for snapshots: [CollectionSnapshot]) -> Int {
        16_384 + snapshots.reduce(0) { $0 + ($1.reportedInstances?.count ?? 0) } * 1_200
    }
}
