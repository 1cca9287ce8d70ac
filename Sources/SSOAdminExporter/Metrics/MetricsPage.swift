import AWSClient
import ServiceLifecycle

/// `/metrics`: every source's families, in order, as node_exporter's handler iterates its collectors: every
/// target's snapshot, the targets' counts, the cumulative AWS call metrics, the process-wide series, build and
/// process metrics.
package struct MetricsPage: Sendable {
    let scheduler: any CollectionScheduler
    /// What `/metrics` writes, in order; process metrics last, measured with the rest written.
    let sources: [any MetricsSource]

    /// What a scrape reports, collected or reused by `deadline` whatever AWS does.
    package func snapshots(deadline: MonotonicInstant) async -> [CollectionSnapshot] {
        await scheduler.snapshots(deadline: deadline)
    }

    /// Writes the whole exposition for `snapshots`, source by source, calling `drain` after each so that the
    /// caller can send and clear what is written.
    package func write(
        _ snapshots: [CollectionSnapshot], into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        let scrape = Scrape(snapshots: snapshots)
        for source in sources {
            try await source.write(scrape, into: &writer, drain: drain)
            try await drain(&writer)
        }
    }
}

/// `/probe`: the selected targets' snapshot families alone, no exporter metrics.
package struct ProbePage: Sendable {
    let scheduler: any CollectionScheduler
    let targetSeries: TargetSeries

    /// The snapshots of the selected targets only; `nil` when none matches.
    package func snapshots(_ selection: TargetSelection, deadline: MonotonicInstant) async -> [CollectionSnapshot]? {
        // An exact name (what /sd hands out) is found by lookup; anything else walks the targets.
        let names: [String]
        if let name = selection.target, let source = scheduler.targets.source(named: name) {
            names = selection.matches(source.currentTarget) ? [name] : []
        } else {
            names = scheduler.targets.sources.filter { selection.matches($0.currentTarget) }.map(\.target.name)
        }
        guard !names.isEmpty else { return nil }
        return await withTaskGroup(of: (Int, CollectionSnapshot?).self) { group in
            for (position, name) in names.enumerated() {
                group.addTask { (position, await scheduler.snapshot(of: name, deadline: deadline)) }
            }
            var results = [CollectionSnapshot?](repeating: nil, count: names.count)
            // nil: the target is gone, or has just learned that its account is another replica's.
            for await (position, snapshot) in group { results[position] = snapshot }
            let found = results.compactMap { $0 }
            return found.isEmpty ? nil : found
        }
    }

    package func write(
        _ snapshots: [CollectionSnapshot], into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        try await targetSeries.write(Scrape(snapshots: snapshots), into: &writer, drain: drain)
    }
}

/// `/sd`: one target group per target, for `http_sd_configs`. The target's name is the group's only "address"
/// (relabelled into `__param_target`, then `__address__` set to the exporter); what else is known of it goes in
/// `__meta_sso_admin_*` labels, which relabelling can use and Prometheus drops afterwards, so they never clash with
/// the labels of the series.
package struct ServiceDiscoveryPage: Sendable {
    let targets: TargetSet

    package func json() -> [UInt8] {
        var json = "["
        for (index, source) in targets.sources.enumerated() {
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
}

/// Every target's snapshot families.
struct TargetSeries: MetricsSource {
    let targets: TargetSet
    let renderer: SnapshotRenderer
    let discovery: OrganizationDiscovery?

    func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        // A configured target whose account is learned only when it is first collected can turn out to watch an
        // account and Region discovery also watches: in the scrape that collected both, only the configured one's
        // series are written (later ones no longer collect the discovered twin). Checked only then: with thousands
        // of targets the check is a visible part of a scrape.
        var distinct = scrape.snapshots
        if targets.mayWriteSeriesTwice {
            let duplicates = targets.discoveredDuplicates(in: distinct)
            var written = Set<CollectionTarget.SeriesIdentity>()
            distinct = distinct.filter {
                !duplicates.contains($0.target.name) && written.insert($0.target.seriesIdentity).inserted
            }
        }
        try await renderer.render(
            distinct, managementAccountID: discovery?.managementAccountID, into: &writer, drain: drain)
    }
}

/// `aws_sso_admin_targets{state}`: configured, discovered, and failing (last collection failed).
struct TargetCounts: MetricsSource {
    let targets: TargetSet

    func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        writer.family(MetricCatalog.targets)
        let watched = targets.watchedCounts
        for (state, count) in [
            ("configured", watched.configured), ("discovered", watched.discovered),
            ("failing", scrape.snapshots.filter { !$0.succeeded }.count),
        ] {
            writer.sample(MetricCatalog.targets.name, labels: [("state", state)], value: Double(count))
        }
    }
}
