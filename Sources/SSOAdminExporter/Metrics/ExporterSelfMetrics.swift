import AWSClient
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The exporter's cumulative metrics for the whole process, whatever the number of targets: the per-target AWS call
/// and credentials series in ``TargetCallMetrics``, which this source writes, and the few process-wide ones (HTTP
/// connections, reloads, discovery) in ``ProcessWideMetrics``, a source of its own.
///
/// Every request and error series carries `region` and `account_id` (and nothing from a target's static labels),
/// every credentials series `provider` and `account_id` (empty for the exporter's own identity).
package final class ExporterSelfMetrics: MetricsSource {
    package let processWide: ProcessWideMetrics
    /// Distinct exception names a counter is kept for; past it new names are counted as `Unknown`.
    package static let maxExceptionNames = 64
    static let durationBuckets: [Duration] = [
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    /// The operations whose series exist from a target's start, with their modeled errors.
    let preregistered: [(operation: String, errors: [String])]
    let targets = TargetCallMetrics(buckets: ExporterSelfMetrics.durationBuckets)
    private let exceptionNames = Mutex<Set<String>>([])

    package init(
        processWide: ProcessWideMetrics = ProcessWideMetrics(),
        operations: [(operation: String, errors: [String])] = [
            (SSOAdminClient.listInstances, SSOAdminClient.modeledErrors)
        ]
    ) {
        self.processWide = processWide
        self.preregistered = operations
    }

    /// Makes a target's request and modeled-error series visible at 0.
    package func registerTarget(_ target: CollectionTarget) {
        for (operation, errors) in preregistered {
            register(operation: operation, modeledErrors: errors, target: target)
        }
    }

    /// Makes one of `target`'s operations' request series and its modeled errors visible at 0; they go with the
    /// target.
    package func register(operation: String, modeledErrors: [String], target: CollectionTarget) {
        targets.register(
            .init(region: target.region, accountID: target.accountID, operation: operation), errors: modeledErrors,
            scope: .target)
    }

    /// Makes an account's operation's request series and its modeled errors visible at 0 for one region; they stay
    /// while the account is watched.
    package func register(operation: String, modeledErrors: [String], region: String, accountID: String) {
        targets.register(
            .init(region: region, accountID: accountID, operation: operation), errors: modeledErrors,
            scope: .account)
    }

    /// Drops the request, error, duration and credentials series of every target that `sources` no longer has,
    /// and of every account that neither has one nor is in `accounts` (the README's promise: a target's series
    /// leave with it); one that comes back starts at 0.
    package func retainSeries(of sources: [TargetSource], keepingAccounts accounts: Set<String>) {
        var targets = Set<TargetCallMetrics.RegionAccount>()
        var accounts = accounts
        for source in sources {
            let account = source.account.current
            targets.insert(.init(region: source.target.region, accountID: account))
            accounts.insert(account)
        }
        self.targets.retain(targets: targets, accounts: accounts)
    }

    /// What an AWS client reports its calls to; the account may be learned after the client is made. A target's own
    /// client (`scope: .target`) counts in series that go with the target.
    package func requestObserver(
        region: String, accountID: @escaping @Sendable () -> String, scope: CallSeriesScope = .account
    ) -> any AWSRequestObserver {
        TargetRequestObserver(metrics: self, region: region, accountID: accountID, scope: scope)
    }

    func attemptFinished(
        region: String, accountID: String, operation: String, scope: CallSeriesScope,
        duration elapsed: Duration, error: AWSClientError?
    ) {
        targets.attempt(
            .init(region: region, accountID: accountID, operation: operation), scope: scope, duration: elapsed)
        if let error, !error.isCancellation {
            recordError(
                region: region, accountID: accountID, operation: operation, scope: scope,
                exception: error.exceptionName)
        }
    }

    /// Counts a failure of `target` under a bounded, identifier-like name.
    package func recordError(target: CollectionTarget, operation: String, exception: String) {
        recordError(
            region: target.region, accountID: target.accountID, operation: operation, scope: .target,
            exception: exception)
    }

    func recordError(
        region: String, accountID: String, operation: String, scope: CallSeriesScope = .account,
        exception: String
    ) {
        targets.error(
            .init(region: region, accountID: accountID, operation: operation), scope: scope,
            exception: admittedExceptionName(exception))
    }

    func admittedExceptionName(_ raw: String) -> String {
        guard Self.looksLikeIdentifier(raw) else { return "Unknown" }
        return exceptionNames.withLock { names in
            if names.contains(raw) { return raw }
            guard names.count < Self.maxExceptionNames else { return "Unknown" }
            names.insert(raw)
            return raw
        }
    }

    static func looksLikeIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, (1...64).contains(name.unicodeScalars.count),
            ("A"..."Z").contains(first) || ("a"..."z").contains(first)
        else { return false }
        return name.unicodeScalars.allSatisfy {
            ("A"..."Z").contains($0) || ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
                || $0 == "."
        }
    }

    /// The AWS call and credentials series; `drain` is called between pieces.
    package func write(
        _ scrape: Scrape, into writer: inout PrometheusTextWriter,
        drain: (inout PrometheusTextWriter) async throws -> Void
    ) async rethrows {
        try await targets.render(into: &writer, drain: drain)
    }
}

/// One target's view of ``ExporterSelfMetrics``: counts its calls under its region and account.
struct TargetRequestObserver: AWSRequestObserver {
    let metrics: ExporterSelfMetrics
    let region: String
    let accountID: @Sendable () -> String
    let scope: CallSeriesScope

    func attemptFinished(operation: String, duration: Duration, error: AWSClientError?) {
        metrics.attemptFinished(
            region: region, accountID: accountID(), operation: operation, scope: scope, duration: duration,
            error: error)
    }

    func callFailedBeforeSending(operation: String, error: AWSClientError) {
        guard !error.isCancellation else { return }
        metrics.recordError(
            region: region, accountID: accountID(), operation: operation, scope: scope,
            exception: error.exceptionName)
    }
}

/// The exporter's own identity (the default chain): its credentials series have an empty `account_id`.
extension ExporterSelfMetrics: AWSCredentialsObserver {
    package func credentialsRefreshed(provider: String, expiration: Date?) {
        credentialsObserver(accountID: "").credentialsRefreshed(provider: provider, expiration: expiration)
    }

    package func credentialsRefreshFailed(provider: String, error: AWSCredentialsError) {
        credentialsObserver(accountID: "").credentialsRefreshFailed(provider: provider, error: error)
    }

    /// Makes both counters of a provider visible at 0, for the one the chain chose.
    package func registerCredentialProvider(_ provider: String, accountID: String = "") {
        targets.registerCredentials(provider: provider, accountID: accountID)
    }

    /// What the credentials of a role assumed in `accountID` report to.
    package func credentialsObserver(accountID: String) -> AccountCredentialsObserver {
        AccountCredentialsObserver(table: targets, accountID: accountID)
    }
}

/// Counts one account's credential refreshes and failures, and the expiry of the credentials in use.
package struct AccountCredentialsObserver: AWSCredentialsObserver {
    let table: TargetCallMetrics
    let accountID: String

    package func credentialsRefreshed(provider: String, expiration: Date?) {
        table.credentialsRefreshed(provider: provider, accountID: accountID, expiration: expiration)
    }

    package func credentialsRefreshFailed(provider: String, error: AWSCredentialsError) {
        // The chain resolves providers but refreshes nothing itself: it has an error counter only.
        if provider == ResolvingCredentialProvider.providerName {
            table.chainFailed(accountID: accountID)
        } else {
            table.credentialsFailed(provider: provider, accountID: accountID)
        }
    }
}
