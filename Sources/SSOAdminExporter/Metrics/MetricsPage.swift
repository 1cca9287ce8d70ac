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
    /// Organization discovery, when configured: it finds targets and knows the management account.
    public let discovery: OrganizationDiscovery?
    /// Reloads `--config.file` (SIGHUP, `POST /-/reload`), when there is one.
    public let reloader: TargetsReloader?

    public init(
        scheduler: any CollectionScheduler & Service, selfMetrics: ExporterSelfMetrics, processMetrics: ProcessMetrics,
        discovery: OrganizationDiscovery? = nil, reloader: TargetsReloader? = nil
    ) {
        self.scheduler = scheduler
        self.discovery = discovery
        self.reloader = reloader
        self.selfMetrics = selfMetrics
        self.renderer = SnapshotRenderer(helpSuffix: scheduler.helpSuffix)
        self.processMetrics = processMetrics
    }

    /// Collects (or reuses) and renders; answers by `deadline` whatever AWS does.
    public func render(deadline: MonotonicInstant) async -> [UInt8] {
        let snapshots = await snapshots(deadline: deadline)
        var writer = PrometheusTextWriter(reservingCapacity: Self.capacity(for: snapshots))
        await write(snapshots, into: &writer) { _ in }
        return writer.bytes
    }

    /// What a scrape reports, collected or reused by `deadline` whatever AWS does.
    public func snapshots(deadline: MonotonicInstant) async -> [CollectionSnapshot] {
        await scheduler.snapshots(deadline: deadline)
    }

    /// Writes the exposition of `snapshots` and of the exporter itself, calling `drain` between pieces so that the
    /// caller can send and clear what is written; the process metrics come last, measured with the rest written.
    public func write(
        _ snapshots: [CollectionSnapshot], into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        try await writeTargets(snapshots, into: &writer, drain: drain)
        renderTargetCounts(snapshots, into: &writer)
        try await selfMetrics.render(into: &writer, drain: drain)
        try await drain(&writer)
        BuildInfo.render(into: &writer)
        processMetrics.render(into: &writer)
    }

    /// The snapshots of the selected targets only, for `/probe`; `nil` when none matches.
    public func probeSnapshots(_ selection: TargetSelection, deadline: MonotonicInstant) async
        -> [CollectionSnapshot]?
    {
        // An exact name (what /sd hands out) is found by lookup; anything else walks the targets.
        let names: [String]
        if let name = selection.target, let source = scheduler.targets.source(named: name) {
            names = selection.matches(source.currentTarget) ? [name] : []
        } else {
            names = scheduler.sources.filter { selection.matches($0.currentTarget) }.map(\.target.name)
        }
        guard !names.isEmpty else { return nil }
        return await withTaskGroup(of: (Int, CollectionSnapshot?).self) { group in
            for (position, name) in names.enumerated() {
                group.addTask { (position, await scheduler.snapshot(of: name, deadline: deadline)) }
            }
            var results = [CollectionSnapshot?](repeating: nil, count: names.count)
            for await (position, snapshot) in group { results[position] = snapshot }
            return results.compactMap { $0 }
        }
    }

    /// Writes the series of `snapshots` alone (a probe's whole answer: no exporter metrics), calling `drain`
    /// between pieces as ``write(_:into:drain:)`` does.
    public func writeTargets(
        _ snapshots: [CollectionSnapshot], into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        // A configured target whose account is learned only when it is first collected can turn out to watch an
        // account and Region discovery also watches: in the scrape that collected both, only the configured one's
        // series are written (later ones no longer collect the discovered twin). Checked only then: with thousands
        // of targets the check is a visible part of a scrape.
        var distinct = snapshots
        if scheduler.targets.mayWriteSeriesTwice {
            let duplicates = scheduler.targets.discoveredDuplicates(in: snapshots)
            var written = Set<CollectionTarget.SeriesIdentity>()
            distinct = snapshots.filter {
                !duplicates.contains($0.target.name) && written.insert($0.target.seriesIdentity).inserted
            }
        }
        try await renderer.render(
            distinct, managementAccountID: discovery?.managementAccountID, into: &writer, drain: drain)
    }

    /// `aws_sso_admin_targets{state}`: configured, discovered, and failing (last collection failed).
    func renderTargetCounts(_ snapshots: [CollectionSnapshot], into writer: inout PrometheusTextWriter) {
        writer.family(MetricCatalog.targets)
        let set = scheduler.targets
        for (state, count) in [
            ("configured", set.configuredCount), ("discovered", set.discoveredCount),
            ("failing", snapshots.filter { !$0.succeeded }.count),
        ] {
            writer.sample(MetricCatalog.targets.name, labels: [("state", state)], value: Double(count))
        }
    }

    /// `/sd`: one target group per target, for `http_sd_configs`. The target's name is the group's only "address"
    /// (relabelled into `__param_target`, then `__address__` set to the exporter); what else is known of it goes in
    /// `__meta_sso_admin_*` labels, which relabelling can use and Prometheus drops afterwards, so they never clash
    /// with the labels of the series.
    public func serviceDiscovery() -> [UInt8] {
        var json = "["
        for (index, source) in scheduler.sources.enumerated() {
            let target = source.currentTarget
            if index > 0 { json += "," }
            var labels: [(String, String)] = [
                ("__meta_sso_admin_target", target.name), ("__meta_sso_admin_region", target.region),
                ("__meta_sso_admin_account_id", target.accountID),
            ]
            labels += target.staticLabels.map { ("__meta_sso_admin_label_\($0.name)", $0.value) }
            json += "{\"targets\":[\(JSONStringLiteral.encode(target.name))],\"labels\":{"
            json += labels.map { "\(JSONStringLiteral.encode($0.0)):\(JSONStringLiteral.encode($0.1))" }
                .joined(separator: ",")
            json += "}}"
        }
        json += "]\n"
        return Array(json.utf8)
    }

    /// About 1.1 KiB of exposition per instance; reserving it up front avoids regrowing a large buffer.
    static func capacity(for snapshots: [CollectionSnapshot]) -> Int {
        16_384 + snapshots.reduce(0) { $0 + ($1.reportedInstances?.count ?? 0) } * 1_200
    }
}
