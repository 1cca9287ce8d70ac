import AWSClient
import Foundation
import Synchronization
import TestSupport
import Testing

/// An ``AWSClock`` the test moves by hand: calendar time moves with the manual clock.
final class ManualWallClock: Sendable {
    private let manual = ManualClock()
    let clock: AWSClock

    init() {
        clock = AWSClock(manual, wallTimeOrigin: Date(timeIntervalSince1970: 1_800_000_000))
    }

    var now: Date { clock.wallTime() }
    func advance(_ seconds: TimeInterval) { manual.advance(by: .seconds(seconds)) }
}

/// Hands out numbered credentials expiring an hour after the clock's time, or fails when told to.
final class CountingFetcher: Sendable {
    private let state = Mutex<(count: Int, failing: Bool)>((0, false))
    let clock: ManualWallClock
    init(clock: ManualWallClock) { self.clock = clock }

    var count: Int { state.withLock { $0.count } }
    func setFailing(_ failing: Bool) { state.withLock { $0.failing = failing } }

    func fetch() throws -> AWSCredentials {
        let (count, failing) = state.withLock { state in
            state.count += 1
            return (state.count, state.failing)
        }
        if failing { throw AWSCredentialsError(provider: "test", message: "refused") }
        return AWSCredentials(
            accessKeyID: "KEY\(count)", secretAccessKey: "s", sessionToken: "t",
            expiration: clock.now.addingTimeInterval(3600))
    }
}

final class RecordingCredentialsObserver: AWSCredentialsObserver {
    private let events = Mutex<[String]>([])
    var recorded: [String] { events.withLock { $0 } }
    func credentialsRefreshed(provider: String, expiration: Date?) { events.withLock { $0.append("ok:\(provider)") } }
    func credentialsRefreshFailed(provider: String, error: AWSCredentialsError) {
        events.withLock { $0.append("error:\(provider)") }
    }
}

@Suite("credential refresh windows")
struct CredentialRefreshTests {
    func make() -> (RefreshingCredentialProvider, ManualWallClock, CountingFetcher, RecordingCredentialsObserver) {
        let clock = ManualWallClock()
        let fetcher = CountingFetcher(clock: clock)
        let observer = RecordingCredentialsObserver()
        let provider = RefreshingCredentialProvider(
            name: "test", clock: clock.clock, observer: observer, fetch: { try fetcher.fetch() })
        return (provider, clock, fetcher, observer)
    }

    @Test("cached until 15 minutes before expiry")
    func cached() async throws {
        let (provider, clock, fetcher, _) = make()
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        clock.advance(44 * 60)
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        #expect(fetcher.count == 1)
    }

    @Test("inside the advisory window: the first caller refreshes, the others keep the old credentials meanwhile")
    func advisory() async throws {
        let clock = ManualWallClock()
        let fetches = Mutex(0)
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let provider = RefreshingCredentialProvider(name: "advisory", clock: clock.clock) {
            let count = fetches.withLock {
                $0 += 1
                return $0
            }
            // The second fetch (the advisory refresh) is held until the test has asked again.
            if count == 2 { for await _ in gate { break } }
            return AWSCredentials(
                accessKeyID: "KEY\(count)", secretAccessKey: "s", expiration: clock.now.addingTimeInterval(3600))
        }
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        clock.advance(47 * 60)  // 13 minutes left
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                let refreshed = try await provider.credentials()
                #expect(refreshed.accessKeyID == "KEY2")
            }
            // While that refresh is held, other callers are not held with it.
            while fetches.withLock({ $0 }) < 2 { await Task.yield() }
            #expect(try await provider.credentials().accessKeyID == "KEY1")
            opener.yield()
            opener.finish()
            try await group.waitForAll()
        }
        #expect(try await provider.credentials().accessKeyID == "KEY2")
        #expect(fetches.withLock { $0 } == 2)
    }

    @Test("a failed advisory refresh keeps the old credentials and is counted")
    func advisoryFailure() async throws {
        let (provider, clock, fetcher, observer) = make()
        _ = try await provider.credentials()
        fetcher.setFailing(true)
        clock.advance(47 * 60)
        #expect(try await provider.credentials().accessKeyID == "KEY1")
        #expect(observer.recorded == ["ok:test", "error:test"])
        #expect(try await provider.credentials().accessKeyID == "KEY1")
    }

    @Test("with nothing cached, a failed fetch is an error and the next call fetches again")
    func failedFirstFetch() async throws {
        let (provider, _, fetcher, _) = make()
        fetcher.setFailing(true)
        await #expect(throws: AWSCredentialsError.self) { _ = try await provider.credentials() }
        fetcher.setFailing(false)
        #expect(try await provider.credentials().accessKeyID == "KEY2")
        #expect(fetcher.count == 2)
    }

    @Test("inside the mandatory window callers wait for fresh credentials; a failure there is an error")
    func mandatory() async throws {
        let (provider, clock, fetcher, _) = make()
        _ = try await provider.credentials()
        clock.advance(51 * 60)  // 9 minutes left
        #expect(try await provider.credentials().accessKeyID == "KEY2")
        clock.advance(51 * 60)
        fetcher.setFailing(true)
        await #expect(throws: AWSCredentialsError.self) { _ = try await provider.credentials() }
    }

    @Test("many callers, one fetch")
    func singleFlight() async throws {
        let clock = ManualWallClock()
        let fetches = Mutex(0)
        let (gate, opener) = AsyncStream<Void>.makeStream()
        let provider = RefreshingCredentialProvider(name: "slow", clock: clock.clock) {
            fetches.withLock { $0 += 1 }
            // Held until every caller is waiting: without single flight each would start its own fetch here.
            for await _ in gate { break }
            return AWSCredentials(
                accessKeyID: "K", secretAccessKey: "s", expiration: clock.now.addingTimeInterval(3600))
        }
        let keys = try await withThrowingTaskGroup(of: String.self) { group in
            for _ in 0..<20 { group.addTask { try await provider.credentials().accessKeyID } }
            for _ in 0..<200 { await Task.yield() }
            opener.yield()
            opener.finish()
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(keys == Array(repeating: "K", count: 20))
        #expect(fetches.withLock { $0 } == 1)
    }

    @Test("credentials without an expiry are fetched once")
    func noExpiry() async throws {
        let fetches = Mutex(0)
        let provider = RefreshingCredentialProvider(name: "static") {
            fetches.withLock { $0 += 1 }
            return AWSCredentials(accessKeyID: "K", secretAccessKey: "s")
        }
        for _ in 0..<5 { _ = try await provider.credentials() }
        #expect(fetches.withLock { $0 } == 1)
    }
}
