import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// Told about each credential fetch, so its owner can count refreshes and errors and watch the expiry.
public protocol AWSCredentialsObserver: Sendable {
    func credentialsRefreshed(provider: String, expiration: Date?)
    func credentialsRefreshFailed(provider: String, error: AWSCredentialsError)
}

/// Caches temporary credentials and refreshes them the way the SDKs do.
///
/// Outside the advisory window (15 minutes before expiry, or half the credentials' lifetime if that is shorter) the
/// cached credentials are returned as they are. Inside it, the first caller refreshes while everybody else keeps the
/// old credentials, and that caller keeps them too when the refresh fails. Inside the mandatory window (10 minutes,
/// or a third of the lifetime if that is shorter), or with nothing cached, callers wait for the
/// refresh; however many wait, one fetch is in flight (a ``SingleFlight``). The fetch runs in the task of the caller
/// that started it (no task of its own outlives a call): if that caller is cancelled, the callers waiting on it get
/// the error and the next call starts again; a waiting caller that is cancelled stops waiting at once.
///
/// No actor: every AWS call asks for credentials, and at organization scale the two executor switches of an actor
/// call were a visible part of each call's CPU.
public final class RefreshingCredentialProvider: AWSCredentialProvider {
    public let name: String
    public static let advisoryRefreshWindow: TimeInterval = 15 * 60
    public static let mandatoryRefreshWindow: TimeInterval = 10 * 60

    /// The windows for credentials that live `lifetime` seconds: the SDKs' 15 and 10 minutes, scaled down for short
    /// lifetimes (a 15-minute role session), which would otherwise arrive already inside them and be fetched again
    /// on every call. So credentials are fetched once per half lifetime at most.
    public static func refreshWindows(lifetime: TimeInterval) -> (advisory: TimeInterval, mandatory: TimeInterval) {
        let lifetime = max(0, lifetime)
        return (min(advisoryRefreshWindow, lifetime / 2), min(mandatoryRefreshWindow, lifetime / 3))
    }

    private let fetch: @Sendable () async throws -> AWSCredentials
    private let clock: AWSClock
    private let observer: (any AWSCredentialsObserver)?
    private let stored = Mutex<Cached?>(nil)

    /// Credentials and the windows their lifetime, as it was when they arrived, gives them.
    private struct Cached {
        let credentials: AWSCredentials
        let advisoryWindow: TimeInterval
        let mandatoryWindow: TimeInterval
    }
    /// The refresh in flight, which every caller that needs fresh credentials joins.
    private let refreshes = SingleFlight<Int, Result<AWSCredentials, AWSCredentialsError>>()
    private static let refreshKey = 0

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
        if let cached = stored.withLock({ $0 }), !needsRefresh(cached) { return cached.credentials }
        return try await refreshedCredentials()
    }

    private func needsRefresh(_ cached: Cached) -> Bool {
        guard let expiration = cached.credentials.expiration else { return false }
        return expiration.timeIntervalSince(clock.wallTime()) <= cached.advisoryWindow
    }

    private func refreshedCredentials() async throws -> AWSCredentials {
        if let cached = stored.withLock({ $0 }) {
            guard let expiration = cached.credentials.expiration else { return cached.credentials }
            let remaining = expiration.timeIntervalSince(clock.wallTime())
            if remaining > cached.advisoryWindow { return cached.credentials }
            if remaining > cached.mandatoryWindow {
                // Inside the advisory window one caller refreshes; the others, and that caller when the refresh
                // fails, keep the credentials they have.
                guard let ticket = refreshes.lead(Self.refreshKey) else { return cached.credentials }
                refreshes.finish(Self.refreshKey, with: await refresh())
                return (try? await refreshes.wait(ticket)?.get()) ?? cached.credentials
            }
        }
        guard let ticket = refreshes.join(Self.refreshKey) else {
            throw AWSCredentialsError(provider: name, message: "credentials are no longer refreshed")
        }
        if ticket.leads { refreshes.finish(Self.refreshKey, with: await refresh()) }
        guard let outcome = await refreshes.wait(ticket) else {
            throw AWSCredentialsError(provider: name, message: "cancelled while waiting for a credentials refresh")
        }
        return try outcome.get()
    }

    /// Fetches in the caller's task; the outcome goes to every caller that joined the refresh.
    private func refresh() async -> Result<AWSCredentials, AWSCredentialsError> {
        do {
            let fresh = try await fetch()
            SecretRegistry.shared.register(fresh)
            let windows = Self.refreshWindows(
                lifetime: fresh.expiration.map { $0.timeIntervalSince(clock.wallTime()) } ?? .infinity)
            stored.withLock {
                $0 = Cached(credentials: fresh, advisoryWindow: windows.advisory, mandatoryWindow: windows.mandatory)
            }
            observer?.credentialsRefreshed(provider: name, expiration: fresh.expiration)
            return .success(fresh)
        } catch {
            let failure =
                error as? AWSCredentialsError ?? AWSCredentialsError(provider: name, message: String(describing: error))
            observer?.credentialsRefreshFailed(provider: name, error: failure)
            return .failure(failure)
        }
    }
}
