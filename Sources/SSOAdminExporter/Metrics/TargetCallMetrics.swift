import AWSClient
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The per-target cumulative series, AWS calls (requests, errors, durations) and credentials (refreshes, errors,
/// expiry), kept in plain tables and written by ``PrometheusTextWriter``, family by family.
///
/// Requests and errors are counted per region, account and operation; the duration histogram only per region and
/// operation: latency belongs to the regional endpoint, not the account, and a histogram per account would be 13
/// series per target (78,000 for a 2,000-account organization in three regions).
///
/// They used to live in the swift-prometheus registry, which copies a family on every insert: with thousands of
/// targets, registering each target's series cost time quadratic in the number of targets (18.9 s of CPU for
/// 2,000 accounts in the organization benchmark). Here a new series is one dictionary insert.
/// Whose calls a series counts, which decides when it goes (``TargetCallMetrics/retain(targets:accounts:)``).
package enum CallSeriesScope: Sendable {
    /// One target's calls in its region: the series goes when the target does.
    case target
    /// An account's calls (or the exporter's own): the series stays while the account is watched.
    case account
}

final class TargetCallMetrics: Sendable {
    struct CallKey: Hashable, Comparable {
        let region: String
        let accountID: String
        let operation: String

        static func < (lhs: CallKey, rhs: CallKey) -> Bool {
            (lhs.accountID, lhs.region, lhs.operation) < (rhs.accountID, rhs.region, rhs.operation)
        }
    }

    struct CallSeries {
        var requests = 0.0
        var errors: [String: Double] = [:]
        /// Whether an account's client (AssumeRole, discovery's calls) counted here: the series then stays while its
        /// account is watched. A series only targets counted in (sso-admin's calls) goes with its target.
        var keptWithAccount = false

        /// Once an account's client counts here, the series is the account's.
        mutating func keep(_ scope: CallSeriesScope) {
            if scope == .account { keptWithAccount = true }
        }
    }

    struct DurationKey: Hashable, Comparable {
        let region: String
        let operation: String

        static func < (lhs: DurationKey, rhs: DurationKey) -> Bool {
            (lhs.region, lhs.operation) < (rhs.region, rhs.operation)
        }
    }

    struct DurationSeries {
        /// Per bucket of ``ExporterSelfMetrics/durationBuckets``, then the `+Inf` one: not cumulative.
        var counts: [Double]
        var sum = 0.0
    }

    struct CredentialKey: Hashable, Comparable {
        let provider: String
        let accountID: String

        static func < (lhs: CredentialKey, rhs: CredentialKey) -> Bool {
            (lhs.accountID, lhs.provider) < (rhs.accountID, rhs.provider)
        }
    }

    private let buckets: [Double]
    private let calls = Mutex<[CallKey: CallSeries]>([:])
    private let durations = Mutex<[DurationKey: DurationSeries]>([:])
    private let credentials = Mutex<
        (counts: [CredentialKey: (refreshes: Double, errors: Double)], expiry: [String: Double])
    >(
        ([:], [:]))

    init(buckets: [Duration]) {
        self.buckets = buckets.map(\.secondsDouble)
    }

    private func withDuration(_ key: CallKey, _ body: (inout DurationSeries) -> Void) {
        durations.withLock { durations in
            body(
                &durations[
                    DurationKey(region: key.region, operation: key.operation),
                    default: DurationSeries(counts: Array(repeating: 0, count: buckets.count + 1))])
        }
    }

    /// Makes the series of an operation visible at 0, with the given error names.
    func register(_ key: CallKey, errors: [String], scope: CallSeriesScope) {
        calls.withLock { calls in
            var series = calls[key] ?? CallSeries()
            for error in errors where series.errors[error] == nil { series.errors[error] = 0 }
            series.keep(scope)
            calls[key] = series
        }
        withDuration(key) { _ in }
    }

    func attempt(_ key: CallKey, scope: CallSeriesScope, duration: Duration) {
        let seconds = duration.secondsDouble
        let bucket = buckets.firstIndex { seconds <= $0 } ?? buckets.count
        calls.withLock { calls in
            calls[key, default: CallSeries()].requests += 1
            calls[key]?.keep(scope)
        }
        withDuration(key) { series in
            series.counts[bucket] += 1
            series.sum += seconds
        }
    }

    func error(_ key: CallKey, scope: CallSeriesScope, exception: String) {
        calls.withLock { calls in
            calls[key, default: CallSeries()].errors[exception, default: 0] += 1
            calls[key]?.keep(scope)
        }
    }

    func registerCredentials(provider: String, accountID: String) {
        credentials.withLock { state in
            let key = CredentialKey(provider: provider, accountID: accountID)
            if state.counts[key] == nil { state.counts[key] = (0, 0) }
        }
    }

    func credentialsRefreshed(provider: String, accountID: String, expiration: Date?) {
        credentials.withLock { state in
            state.counts[CredentialKey(provider: provider, accountID: accountID), default: (0, 0)].refreshes += 1
            if let expiration { state.expiry[accountID] = expiration.timeIntervalSince1970 }
        }
    }

    func credentialsFailed(provider: String, accountID: String) {
        credentials.withLock { state in
            state.counts[CredentialKey(provider: provider, accountID: accountID), default: (0, 0)].errors += 1
        }
    }

    /// The chain's own failures: an error series without a refresh series, the chain not being a provider.
    func chainFailed(accountID: String) {
        credentials.withLock { state in
            state.counts[
                CredentialKey(provider: ResolvingCredentialProvider.providerName, accountID: accountID),
                default: (.nan, 0)
            ].errors += 1
        }
    }

    /// Keeps only the series of what is still watched: a call series only targets counted in (`ListInstances`,
    /// `DescribeInstance`, sso-admin's `ListRegions`) when its region and account are a live target's; one an
    /// account's client counted in (`AssumeRole`, discovery's calls, the Account API's `ListRegions` that shares a
    /// name with sso-admin's) and credentials series when their account is in `accounts`. A duration series goes
    /// with the last call series of its region and operation.
    func retain(targets: Set<RegionAccount>, accounts: Set<String>) {
        let remaining = calls.withLock { calls in
            calls = calls.filter { key, series in
                series.keptWithAccount
                    ? accounts.contains(key.accountID)
                    : targets.contains(RegionAccount(region: key.region, accountID: key.accountID))
            }
            return Set(calls.keys.map { DurationKey(region: $0.region, operation: $0.operation) })
        }
        durations.withLock { durations in durations = durations.filter { remaining.contains($0.key) } }
        credentials.withLock { state in
            state.counts = state.counts.filter { accounts.contains($0.key.accountID) }
            state.expiry = state.expiry.filter { accounts.contains($0.key) }
        }
    }

    struct RegionAccount: Hashable {
        let region: String
        let accountID: String
    }

    /// Writes the families, calling `drain` every few hundred samples so that thousands of targets' series are sent
    /// while they are written rather than held whole.
    func render(
        into writer: inout PrometheusTextWriter, drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        // One copy of the table, sorted in place: `sorted` would make a second of 8,800 series at 2,000 accounts.
        var calls = Array(self.calls.withLock { $0 })
        calls.sort { $0.key < $1.key }
        func labels(_ key: CallKey) -> EncodedLabels {
            EncodedLabels([("region", key.region), ("account_id", key.accountID), ("operation", key.operation)])
        }
        writer.family(MetricCatalog.apiRequests)
        for (index, (key, series)) in calls.enumerated() {
            writer.sample(MetricCatalog.apiRequests.name, labels(key), value: series.requests)
            if index % 512 == 511 { try await drain(&writer) }
        }
        writer.family(MetricCatalog.apiErrors)
        for (index, (key, series)) in calls.enumerated() {
            for (exception, count) in series.errors.sorted(by: { $0.key < $1.key }) {
                writer.sample(
                    MetricCatalog.apiErrors.name, labels(key), EncodedLabels([("exception", exception)]), value: count)
            }
            if index % 512 == 511 { try await drain(&writer) }
        }
        writer.family(MetricCatalog.apiRequestDuration)
        let bucketName = MetricCatalog.apiRequestDuration.name + "_bucket"
        let bounds =
            buckets.map { EncodedLabels([("le", PrometheusTextWriter.format($0))]) } + [
                EncodedLabels([("le", "+Inf")])
            ]
        for (key, series) in durations.withLock({ $0 }).sorted(by: { $0.key < $1.key }) {
            let labels = EncodedLabels([("region", key.region), ("operation", key.operation)])
            var cumulative = 0.0
            for (bound, count) in zip(bounds, series.counts) {
                cumulative += count
                writer.sample(bucketName, labels, bound, value: cumulative)
            }
            writer.sample(MetricCatalog.apiRequestDuration.name + "_sum", labels, value: series.sum)
            writer.sample(MetricCatalog.apiRequestDuration.name + "_count", labels, value: cumulative)
        }

        let (counts, expiry) = credentials.withLock { ($0.counts, $0.expiry) }
        let credentialSeries = counts.sorted { $0.key < $1.key }
        try await drain(&writer)
        writer.family(MetricCatalog.credentialsRefreshes)
        for (key, value) in credentialSeries where !value.refreshes.isNaN {
            writer.sample(
                MetricCatalog.credentialsRefreshes.name,
                labels: [("provider", key.provider), ("account_id", key.accountID)], value: value.refreshes)
        }
        try await drain(&writer)
        writer.family(MetricCatalog.credentialsErrors)
        for (key, value) in credentialSeries {
            writer.sample(
                MetricCatalog.credentialsErrors.name,
                labels: [("provider", key.provider), ("account_id", key.accountID)], value: value.errors)
        }
        try await drain(&writer)
        writer.family(MetricCatalog.credentialsExpiry)
        for (accountID, expiry) in expiry.sorted(by: { $0.key < $1.key }) {
            writer.sample(MetricCatalog.credentialsExpiry.name, labels: [("account_id", accountID)], value: expiry)
        }
    }
}
