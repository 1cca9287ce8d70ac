import AWSClient
import Foundation
import Synchronization
import TestSupport
import Testing

@Suite("token bucket")
struct TokenBucketTests {
    @Test("serves the burst at once, then one token per 1/rate seconds")
    func paces() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 4, burst: 2, clock: AWSClock(clock))
        for _ in 0..<3 { #expect(try await bucket.acquire(patience: .seconds(1))) }
        #expect(clock.sleeps == [.milliseconds(250)])
    }

    @Test("a wait longer than the patience takes nothing and does not sleep")
    func impatient() async throws {
        let clock = ManualClock()
        let bucket = TokenBucket(rate: 1, burst: 1, clock: AWSClock(clock))
        #expect(try await bucket.acquire(patience: .zero))
        #expect(try await bucket.acquire(patience: .milliseconds(999)) == false)
        #expect(clock.sleeps.isEmpty)
        #expect(try await bucket.acquire(patience: .seconds(1)))
        #expect(clock.sleeps == [.seconds(1)])
    }

    /// A call the bucket cannot serve before its deadline sends nothing: it is no request to count, and no retry
    /// to take from the endpoint's quota, which every account calling that endpoint shares.
    @Test("a call paced past its deadline is not sent, not counted as a request, and not retried")
    func pacedCallIsNotARequest() async throws {
        let received = Mutex(0)
        let server = try await FakeHTTPServer.start { _ in
            received.withLock { $0 += 1 }
            return .respond(status: 200, headers: [], body: Array("{}".utf8))
        }
        let aws = try AWSClient(configuration: AWSClientConfiguration(userAgent: "test"))
        try await withAsyncCleanup {
            let observer = RecordingObserver()
            let bucket = TokenBucket(rate: 0.001, burst: 1)
            let client = AWSJSONClient(
                sender: aws.sender(
                    for: AWSServiceEndpoint(
                        url: URL(string: server.endpoint)!, region: "us-east-1", signingName: "sso"),
                    credentials: StaticCredentialProvider(AWSCredentials(accessKeyID: "AKID", secretAccessKey: "s")),
                    observer: observer, through: RateLimitedTransport(base: aws.transport, bucket: bucket)),
                targetPrefix: "SWBExternalService")
            let operation = AWSOperation(name: "ListInstances", modeledErrors: []) { _ in 0 }
            func call() async throws -> Int {
                try await client.send(
                    operation, body: Array("{}".utf8), deadline: AWSClock.continuous.now().advanced(by: .seconds(5)))
            }
            _ = try await call()
            for _ in 0..<3 {
                let error = try await #require(throws: AWSClientError.self) { try await call() }
                #expect(error.exceptionName == "Timeout")
            }
            #expect(received.withLock { $0 } == 1)
            #expect(
                observer.recorded == ["ListInstances:ok"] + Array(repeating: "ListInstances:before:Timeout", count: 3))
        } cleanup: {
            await server.stop()
            try await aws.shutdown()
        }
    }

    /// A rate this small makes the wait 1e300 seconds, far beyond `Int64` nanoseconds; it once trapped converting.
    @Test(
        "rates too small or not numbers refuse instead of trapping",
        arguments: [1e-300, .leastNonzeroMagnitude, 0, .nan])
    func tinyRates(rate: Double) async throws {
        let bucket = TokenBucket(rate: rate, burst: 1, clock: AWSClock(ManualClock()))
        #expect(try await bucket.acquire(patience: .seconds(3600)))
        for _ in 0..<1000 { #expect(try await bucket.acquire(patience: .seconds(Int64.max)) == false) }
    }
}
