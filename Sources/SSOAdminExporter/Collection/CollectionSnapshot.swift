import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The result of one collection: what AWS reported, or why it could not be read.
package struct CollectionSnapshot: Sendable {
    package enum Outcome: Sendable {
        case success(instances: [InstanceMetadata], pages: Int)
        case failure(CollectionFailure)
    }

    /// What the last successful collection of a target saw, kept after it starts failing for at most `max_stale`.
    package struct LastSuccess: Sendable {
        package let instances: [InstanceMetadata]
        /// Wall-clock time that collection finished.
        package let finishedAt: Date
        package let details: InstanceDetailsReport?

        package init(instances: [InstanceMetadata], finishedAt: Date, details: InstanceDetailsReport? = nil) {
            self.instances = instances
            self.finishedAt = finishedAt
            self.details = details
        }
    }

    package let target: CollectionTarget
    package let outcome: Outcome
    /// Wall-clock time the collection started; ages are measured from it.
    package let collectedAt: Date
    package let duration: Duration
    /// When it finished on the monotonic clock, for `--collect.min-interval` reuse and `max_stale`.
    package let finishedAt: MonotonicInstant
    /// For a failed collection: the last success still within `max_stale`, whose instances are still reported.
    package var lastSuccess: LastSuccess?
    /// For a successful collection with instance details on: what the detail calls read.
    package let details: InstanceDetailsReport?

    package init(
        target: CollectionTarget,
        outcome: Outcome,
        collectedAt: Date,
        duration: Duration,
        finishedAt: MonotonicInstant,
        lastSuccess: LastSuccess? = nil,
        details: InstanceDetailsReport? = nil
    ) {
        self.details = details
        self.target = target
        self.outcome = outcome
        self.collectedAt = collectedAt
        self.duration = duration
        self.finishedAt = finishedAt
        self.lastSuccess = lastSuccess
    }

    package var succeeded: Bool {
        if case .success = outcome { return true }
        return false
    }

    /// This collection as the last success a later failure may fall back on; `nil` when it failed.
    package var asLastSuccess: LastSuccess? {
        guard case .success(let instances, _) = outcome else { return nil }
        return LastSuccess(
            instances: instances, finishedAt: collectedAt.addingTimeInterval(duration.secondsDouble), details: details)
    }

    /// Whether this snapshot is of a target another replica collects, which nothing reports.
    package var isAnotherShards: Bool {
        if case .failure(.anotherShard) = outcome { return true }
        return false
    }

    /// The instances series are rendered from: this collection's, or those of the last success it falls back on.
    package var reportedInstances: [InstanceMetadata]? {
        if case .success(let instances, _) = outcome { return instances }
        return lastSuccess?.instances
    }

    /// The instance details series are rendered from, beside ``reportedInstances``.
    package var reportedDetails: InstanceDetailsReport? {
        succeeded ? details : lastSuccess?.details
    }

    /// When the target last collected successfully, if that is still reported.
    package var lastSuccessAt: Date? { asLastSuccess?.finishedAt ?? lastSuccess?.finishedAt }
}

/// Why a collection gave no instances, kept as a value: what reads a snapshot can tell a throttled account from a
/// refused role, a wrong answer or a scrape that could not wait, without reading text.
package enum CollectionFailure: Error, Sendable, CustomStringConvertible {
    /// An AWS call failed for good (after its retries), or the pages of `ListInstances` would never end.
    case aws(AWSClientError)
    /// The collection did not run to its end for this answer: not run yet, the scrape's deadline passed first, or
    /// the exporter is shutting down.
    case notCollected(String)
    /// Anything else a collection threw; the AWS client throws only ``AWSClient/AWSClientError``.
    case unexpected(String)
    /// The target's account, learned by this collection, is another replica's (`--discovery.shard.*`): nothing was
    /// listed, and the target is no longer watched here.
    case anotherShard(String)

    package var description: String {
        switch self {
        case .aws(let error): String(describing: error)
        case .notCollected(let reason), .unexpected(let reason), .anotherShard(let reason): reason
        }
    }
}
