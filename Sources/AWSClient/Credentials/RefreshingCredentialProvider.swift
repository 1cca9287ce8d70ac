#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Told about each credential fetch, so the exporter can count refreshes and errors and export the expiry.
public protocol AWSCredentialsObserver: Sendable {
    func credentialsRefreshed(provider: String, expiration: Date?)
    func credentialsRefreshFailed(provider: String, error: AWSCredentialsError)
}

/// Caches temporary credentials and refreshes them the way the SDKs do.
///
/// Outside the advisory window (15 minutes before expiry) the cached credentials are returned as they are. Inside
/// it, the first caller starts a refresh in the background and everybody keeps the old credentials, also when that
/// refresh fails. Inside the mandatory window (10 minutes), or with nothing cached, callers wait for the refresh;
/// however many wait, one fetch is in flight.
public actor RefreshingCredentialProvider: AWSCredentialProvider {
    public nonisolated let name: String
    public static let advisoryRefreshWindow: TimeInterval = 15 * 60
    public static let mandatoryRefreshWindow: TimeInterval = 10 * 60

    private let fetch: @Sendable () async throws -> AWSCredentials
    private let clock: AWSClock
    private let observer: (any AWSCredentialsObserver)?
    private var cached: AWSCredentials?
    private var inFlight: Task<AWSCredentials, any Error>?

    /// - Parameter fetch: obtains fresh credentials; throws ``AWSCredentialsError`` (other errors are wrapped).
    public init(
        name: String,
        clock: AWSClock = .continuous,
        observer: (any AWSCredentialsObserver)? = nil,
        fetch: @escaping @Sendable () async throws -> AWSCredentials
    ) {
        self.name = name
        self.clock = clock
        self.observer = observer
        self.fetch = fetch
    }

    public func credentials() async throws -> AWSCredentials {
        let now = clock.wallTime()
        if let cached {
            guard let expiration = cached.expiration else { return cached }
            let remaining = expiration.timeIntervalSince(now)
            if remaining > Self.advisoryRefreshWindow { return cached }
            if remaining > Self.mandatoryRefreshWindow {
                if inFlight == nil { _ = startRefresh() }
                return cached
            }
        }
        return try await (inFlight ?? startRefresh()).value
    }

    private func startRefresh() -> Task<AWSCredentials, any Error> {
        let task = Task { try await self.refresh() }
        inFlight = task
        return task
    }

    private func refresh() async throws -> AWSCredentials {
        defer { inFlight = nil }
        do {
            let fresh = try await fetch()
            SecretRegistry.shared.register(fresh)
            cached = fresh
            observer?.credentialsRefreshed(provider: name, expiration: fresh.expiration)
            return fresh
        } catch {
            let failure =
                error as? AWSCredentialsError ?? AWSCredentialsError(provider: name, message: String(describing: error))
            observer?.credentialsRefreshFailed(provider: name, error: failure)
            throw failure
        }
    }
}
