import AWSClient

/// Decides when targets are collected and answers scrapes with their snapshots.
package protocol CollectionScheduler: Sendable {
    /// The targets, read afresh for every round or scrape.
    var targets: TargetSet { get }
    /// Appended to the HELP text of the families rendered from snapshots, to say results may be reused.
    var helpSuffix: String { get }
    /// A snapshot of every target, answered by `deadline`.
    func snapshots(deadline: MonotonicInstant) async -> [CollectionSnapshot]
    /// A snapshot of the target named `name`, answered by `deadline`; `nil` when there is no such target.
    /// Several calls for different targets run concurrently.
    func snapshot(of name: String, deadline: MonotonicInstant) async -> CollectionSnapshot?
}

/// What a scheduler remembers of a target between collections: its latest snapshot and its last success, which a
/// failing target keeps reporting for at most `maxStale`.
struct TargetHistory: Sendable {
    private(set) var latest: CollectionSnapshot?
    /// When the round that took `latest` started (background collection), for `empty_region_interval`.
    private(set) var roundStarted: MonotonicInstant?
    private var lastSuccess: (value: CollectionSnapshot.LastSuccess, at: MonotonicInstant)?

    /// Records `snapshot` and returns it as it should be reported: a failure within `maxStale` of the last success
    /// carries that success's instances.
    mutating func record(
        _ snapshot: CollectionSnapshot, maxStale: Duration, roundStarted: MonotonicInstant? = nil
    ) -> CollectionSnapshot {
        self.roundStarted = roundStarted
        var reported = snapshot
        if let success = snapshot.asLastSuccess {
            lastSuccess = (success, snapshot.finishedAt)
        } else if let lastSuccess {
            if lastSuccess.at.advanced(by: maxStale) >= snapshot.finishedAt, maxStale > .zero {
                reported.lastSuccess = lastSuccess.value
            } else {
                self.lastSuccess = nil
            }
        }
        latest = reported
        return reported
    }

    /// Whether the latest collection succeeded and found no instance: `empty_region_interval` applies.
    var foundNothing: Bool {
        guard let latest, case .success(let instances, _) = latest.outcome else { return false }
        return instances.isEmpty
    }
}

extension CollectionScheduler {
    /// Every target, in configuration order, then discovered ones.
    package var sources: [TargetSource] { targets.sources }
}
