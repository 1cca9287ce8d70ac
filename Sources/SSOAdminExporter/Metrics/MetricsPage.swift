import AWSClient
import Prometheus

/// Assembles one `/metrics` answer: the collection snapshot, the cumulative AWS call metrics, build and
/// process metrics.
public struct MetricsPage: Sendable {
    public let collector: InstanceCollector
    public let selfMetrics: ExporterSelfMetrics
    public let renderer: SnapshotRenderer
    public let processMetrics: ProcessMetrics

    public init(collector: InstanceCollector, selfMetrics: ExporterSelfMetrics, processMetrics: ProcessMetrics) {
        self.collector = collector
        self.selfMetrics = selfMetrics
        let reuse = collector.minInterval
        self.renderer = SnapshotRenderer(
            helpSuffix: reuse > .zero
                ? " May be reused for up to \(reuse.secondsDouble)s (--collect.min-interval)." : ""
        )
        self.processMetrics = processMetrics
    }

    /// Collects (or reuses) and renders; answers by `deadline` whatever AWS does.
    public func render(deadline: MonotonicInstant) async -> [UInt8] {
        let snapshot = await collector.snapshot(deadline: deadline)
        // About 1.1 KiB of exposition per instance; reserving it up front avoids regrowing a large buffer.
        var instanceCount = 0
        if case .success(let instances, _) = snapshot.outcome { instanceCount = instances.count }
        var writer = PrometheusTextWriter(reservingCapacity: 16_384 + instanceCount * 1_200)
        renderer.render(snapshot, into: &writer)
        writer.appendRaw(selfMetrics.registry.emitToBuffer())
        BuildInfo.render(into: &writer)
        processMetrics.render(into: &writer)
        return writer.bytes
    }
}
