import AWSClient
import Foundation
import Synchronization
import TestSupport
import Testing

/// Hands out credentials that live `lifetime` seconds from the clock's time, counting fetches.
final class ShortLivedFetcher: Sendable {
    private let fetches = Mutex(0)
    let clock: ManualWallClock
    let lifetime: TimeInterval

    init(clock: ManualWallClock, lifetime: TimeInterval) {
        self.clock = clock
        self.lifetime = lifetime
    }

    var count: Int { fetches.withLock { $0 } }

    func fetch() -> AWSCredentials {
        let number = fetches.withLock { count in
            count += 1
            return count
        }
        return AWSCredentials(
            accessKeyID: "ASIASHORT\(number)", secretAccessKey: "s", sessionToken: "t",
            expiration: clock.now.addingTimeInterval(lifetime))
    }
}

/// A transport whose every exchange waits until its task is cancelled, as a call whose sibling failed first.
struct WaitingTransport: AWSHTTPTransport {
    let started: AsyncStream<Void>.Continuation

    func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        started.yield()
        try await Task.sleep(for: .seconds(3600))
        throw CancellationError()
    }
}

final class RecordingRequestObserver: AWSRequestObserver {
    private let events = Mutex<[String]>([])
    var recorded: [String] { events.withLock { $0 } }

    func attemptFinished(operation: String, duration: Duration, error: AWSClientError?) {
        events.withLock { $0.append("\(operation):\(error.map(\.exceptionName) ?? "ok")") }
    }

    func callFailedBeforeSending(operation: String, error: AWSClientError) {
        events.withLock { $0.append("\(operation):before:\(error.exceptionName)") }
    }
}

/// A page that counts how many of its kind are alive, to show what a paginator keeps.
final class CountedPage: Sendable {
    static let alive = Mutex(0)
    let token: String?
    let items: [Int]

    init(token: String?, items: [Int]) {
        self.token = token
        self.items = items
        Self.alive.withLock { $0 += 1 }
    }

    deinit { Self.alive.withLock { $0 -= 1 } }
}

extension DeadlineTests {
    @Suite("AWS client inputs: short sessions, long listings, cancelled calls, plain words")
    struct SurfaceHardeningTests {
        @Test(
            "a short role session is fetched once per half lifetime, not on every call",
            arguments: [900.0, 1800, 3600, 43_200])
        func shortSessions(lifetime: TimeInterval) async throws {
            let clock = ManualWallClock()
            let fetcher = ShortLivedFetcher(clock: clock, lifetime: lifetime)
            let provider = RefreshingCredentialProvider(name: "test", clock: clock.clock, fetch: { fetcher.fetch() })
            // A collection every 15 s for four lifetimes.
            let calls = Int(4 * lifetime / 15)
            for _ in 0..<calls {
                let credentials = try await provider.credentials()
                #expect(try #require(credentials.expiration) > clock.now)
                clock.advance(15)
            }
            // Once at the start, then once each time the advisory window (at most half the lifetime) is reached.
            let window = min(RefreshingCredentialProvider.advisoryRefreshWindow, lifetime / 2)
            let expected = 1 + Int((4 * lifetime / (lifetime - window)).rounded(.up))
            #expect(fetcher.count <= expected, "\(fetcher.count) fetches for \(calls) calls")
            #expect(fetcher.count >= 4)
        }

        @Test("the refresh windows shrink with the lifetime and never pass the SDKs' 15 and 10 minutes")
        func windows() {
            #expect(RefreshingCredentialProvider.refreshWindows(lifetime: 900) == (450, 300))
            #expect(RefreshingCredentialProvider.refreshWindows(lifetime: 3600) == (900, 600))
            #expect(RefreshingCredentialProvider.refreshWindows(lifetime: 43_200) == (900, 600))
            #expect(RefreshingCredentialProvider.refreshWindows(lifetime: -5) == (0, 0))
        }

        @Test("the paginator keeps items, not pages: a thousand pages of 99 KB tokens leave one page alive at a time")
        func paginatorKeepsNoPages() async throws {
            let token = String(repeating: "t", count: 99_000)
            var maxAlive = 0
            let (items, pages) = try await AWSPaginator(maxPages: 2_000, maxTokenLength: 100_000).items(
                of: "ListAccounts",
                fetch: { previous in
                    maxAlive = max(maxAlive, CountedPage.alive.withLock { $0 })
                    let number = previous.map { Int($0.prefix { $0.isNumber }) ?? 0 } ?? 0
                    return CountedPage(token: number < 999 ? "\(number + 1)\(token)" : nil, items: [number])
                },
                nextToken: \.token, items: \.items)
            #expect(pages == 1_000)
            #expect(items == Array(0..<1_000))
            #expect(maxAlive <= 1, "pages alive while fetching: \(maxAlive)")
        }

        @Test("a listing longer than the caller's bound is refused as it arrives, not read whole")
        func paginatorBoundsItems() async throws {
            let fetched = Mutex(0)
            await #expect {
                _ = try await AWSPaginator(maxPages: 100, maxTokenLength: 100).items(
                    of: "ListAccounts", maxItems: 50,
                    fetch: { token in
                        fetched.withLock { $0 += 1 }
                        return CountedPage(token: "\((Int(token ?? "0") ?? 0) + 1)", items: Array(0..<20))
                    },
                    nextToken: \.token, items: \.items)
            } throws: { error in
                guard let pagination = (error as? AWSClientError)?.paginationError else { return false }
                return pagination.kind == .tooManyItems(limit: 50) && pagination.exceptionName == "TooManyItems"
            }
            #expect(fetched.withLock { $0 } == 3)
            // One page past the bound is refused too.
            await #expect(throws: AWSClientError.self) {
                _ = try await AWSPaginator(maxPages: 100, maxTokenLength: 100).items(
                    of: "ListAccounts", maxItems: 50,
                    fetch: { _ in CountedPage(token: nil, items: Array(0..<180_000)) }, nextToken: \.token,
                    items: \.items)
            }
        }

        @Test("a call cancelled by its caller is thrown as cancelled and counted as no error")
        func cancelledCall() async throws {
            let (started, startedContinuation) = AsyncStream.makeStream(of: Void.self)
            let observer = RecordingRequestObserver()
            let sender = AWSRequestSender(
                endpoint: AWSServiceEndpoint(
                    url: try #require(URL(string: "https://organizations.us-east-1.amazonaws.com")),
                    region: "us-east-1",
                    signingName: "organizations"),
                credentialProvider: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s")),
                transport: WaitingTransport(started: startedContinuation),
                configuration: AWSClientConfiguration(userAgent: "test"), observer: observer)
            let call = Task {
                try await sender.send(
                    AWSOperation(name: "DescribeOrganization", modeledErrors: [], decode: { _ in () }),
                    request: AWSHTTPRequest(
                        method: "POST",
                        url: try #require(URL(string: "https://organizations.us-east-1.amazonaws.com")), headers: [],
                        body: []),
                    deadline: AWSClock.continuous.now().advanced(by: .seconds(60)),
                    parseError: { AWSServiceError(code: "X", statusCode: $0.status) })
            }
            for await _ in started { break }
            call.cancel()
            await #expect {
                try await call.value
            } throws: { error in
                guard let error = error as? AWSClientError else { return false }
                return error.isCancellation
            }
            #expect(observer.recorded == ["DescribeOrganization:Cancelled"])
        }

        @Test("secret names used as plain words keep the words after them; values after a separator are redacted")
        func plainWords() {
            let message = "The response had no AccessKeyId, SecretAccessKey or SessionToken element for role admin"
            #expect(NetworkText.sanitized(message) == message)
            for (text, secret) in [
                (#"{"SecretAccessKey": "wJalrXUtnFEMI"}"#, "wJalrXUtnFEMI"),
                ("SessionToken=FQoGZXIvYXdzEXAMPLE&x=1", "FQoGZXIvYXdzEXAMPLE"),
                ("<SessionToken>FQoGZXIvYXdzXML</SessionToken>", "FQoGZXIvYXdzXML"),
                ("secretaccesskey : abcdef123", "abcdef123"),
            ] {
                let cleaned = NetworkText.sanitized(text)
                #expect(!cleaned.contains(secret), "\(cleaned)")
                #expect(cleaned.contains(NetworkText.redacted), "\(cleaned)")
            }
        }
    }
}
