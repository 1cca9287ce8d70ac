import AWSClient
import Prometheus
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The exporter's cumulative counters and histograms, kept in one long-lived swift-prometheus registry.
///
/// Only series with a bounded label space live here (operation × exception name), so the registry's
/// copy-on-insert cost is paid a handful of times, never per scrape.
public final class ExporterSelfMetrics: AWSRequestObserver {
    public let registry: PrometheusCollectorRegistry
    public let target: CollectionTarget
    /// Distinct exception names a counter is kept for; past it new names are counted as `Unknown`.
    public static let maxExceptionNames = 64
    static let durationBuckets: [Duration] = [
        .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]
    private let exceptionNames = Mutex<Set<String>>([])
    /// The registry looks series up by hashing their labels; scrapes send many requests, so keep the handles.
    private let handles = Mutex<[String: (requests: Counter, duration: DurationHistogram)]>([:])

    public init(registry: PrometheusCollectorRegistry, target: CollectionTarget, operations: [String]) {
        self.registry = registry
        self.target = target
        for operation in operations {
            _ = requests(operation)
            _ = duration(operation)
            for exception in SSOAdminClient.modeledErrors {
                _ = errors(operation, exception: exception)
            }
        }
    }

    public func attemptFinished(operation: String, duration elapsed: Duration, error: AWSClientError?) {
        let (requests, duration) = handles.withLock { handles in
            if let found = handles[operation] { return found }
            let made = (self.requests(operation), self.duration(operation))
            handles[operation] = made
            return made
        }
        requests.increment()
        duration.record(elapsed)
        if let error { recordError(operation: operation, exception: error.exceptionName) }
    }

    public func callFailedBeforeSending(operation: String, error: AWSClientError) {
        recordError(operation: operation, exception: error.exceptionName)
    }

    /// Counts a failure under a bounded, identifier-like name.
    public func recordError(operation: String, exception: String) {
        let name = admittedExceptionName(exception)
        errors(operation, exception: name).increment()
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

    private func requests(_ operation: String) -> Counter {
        registry.makeCounter(
            descriptor: MetricCatalog.apiRequests.descriptor,
            labels: target.labels + [("operation", operation)]
        )
    }

    private func errors(_ operation: String, exception: String) -> Counter {
        registry.makeCounter(
            descriptor: MetricCatalog.apiErrors.descriptor,
            labels: target.labels + [("operation", operation), ("exception", exception)]
        )
    }

    private func duration(_ operation: String) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: MetricCatalog.apiRequestDuration.descriptor,
            labels: target.labels + [("operation", operation)],
            buckets: Self.durationBuckets
        )
    }
}

extension ExporterSelfMetrics: AWSCredentialsObserver {
    public func credentialsRefreshed(provider: String, expiration: Date?) {
        credentialCounters(provider).refreshes.increment()
        if let expiration {
            // Made on first use, so that keys that never expire leave the series absent rather than at 0.
            registry.makeGauge(descriptor: MetricCatalog.credentialsExpiry.descriptor)
                .set(expiration.timeIntervalSince1970)
        }
    }

    public func credentialsRefreshFailed(provider: String, error: AWSCredentialsError) {
        // The chain resolves providers but refreshes nothing itself: it has an error counter only.
        if provider == ResolvingCredentialProvider.providerName {
            registry.makeCounter(
                descriptor: MetricCatalog.credentialsErrors.descriptor, labels: [("provider", provider)]
            ).increment()
            return
        }
        credentialCounters(provider).errors.increment()
    }

    /// Makes both counters of a provider visible at 0, for the one the chain chose.
    public func registerCredentialProvider(_ provider: String) {
        _ = credentialCounters(provider)
    }

    private func credentialCounters(_ provider: String) -> (refreshes: Counter, errors: Counter) {
        (
            registry.makeCounter(
                descriptor: MetricCatalog.credentialsRefreshes.descriptor, labels: [("provider", provider)]),
            registry.makeCounter(
                descriptor: MetricCatalog.credentialsErrors.descriptor, labels: [("provider", provider)])
        )
    }
}

extension MetricSpec {
    /// Built on demand: swift-prometheus' descriptor is not Sendable, so it cannot be stored in a static.
    var descriptor: MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }
}
