import AWSClient

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The result of one collection: what AWS reported, or why it could not be read.
public struct CollectionSnapshot: Sendable {
    public enum Outcome: Sendable {
        case success(instances: [InstanceMetadata], pages: Int)
        case failure(reason: String)
    }

    public let target: CollectionTarget
    public let outcome: Outcome
    /// Wall-clock time the collection started; ages are measured from it.
    public let collectedAt: Date
    public let duration: Duration
    /// When it finished on the monotonic clock, for `--collect.min-interval` reuse.
    public let finishedAt: MonotonicInstant

    public init(
        target: CollectionTarget,
        outcome: Outcome,
        collectedAt: Date,
        duration: Duration,
        finishedAt: MonotonicInstant
    ) {
        self.target = target
        self.outcome = outcome
        self.collectedAt = collectedAt
        self.duration = duration
        self.finishedAt = finishedAt
    }

    public var succeeded: Bool {
        if case .success = outcome { return true }
        return false
    }
}
