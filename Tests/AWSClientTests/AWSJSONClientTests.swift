import AWSClient
import AsyncHTTPClient
import Foundation
import Synchronization
import TestSupport
import Testing

/// Records what the client reports, in order.
final class RecordingObserver: AWSRequestObserver {
    private let events = Mutex<[String]>([])
    var recorded: [String] { events.withLock { $0 } }

    func attemptFinished(operation: String, duration: Duration, error: AWSClientError?) {
        events.withLock { $0.append(error.map { "\(operation):\($0.exceptionName)" } ?? "\(operation):ok") }
    }

    func callFailedBeforeSending(operation: String, error: AWSClientError) {
        events.withLock { $0.append("\(operation):before:\(error.exceptionName)") }
    }
}

/// Counts wall-clock reads so each attempt's signing time can be told apart.
final class SteppingWallClock: Sendable {
    private let seconds = Mutex<Double>(1_700_000_000)
    func next() -> Date {
        seconds.withLock {
            $0 += 1
            return Date(timeIntervalSince1970: $0)
        }
    }
}

extension DeadlineTests {
    @Suite("AWS JSON client over a loopback server")
    struct AWSJSONClientTests {
        struct Harness {
            let server: FakeHTTPServer
            let client: AWSJSONClient
            let clock: ManualClock
            let observer: RecordingObserver
            let requests: RequestLog
        }

        final class RequestLog: Sendable {
            private let storage = Mutex<[FakeHTTPRequest]>([])
            func append(_ request: FakeHTTPRequest) -> Int {
                storage.withLock {
                    $0.append(request)
                    return $0.count - 1
                }
            }
            func withLock<T>(_ body: ([FakeHTTPRequest]) -> T) -> T { storage.withLock { body($0) } }
        }

        /// Runs `body` against a server whose answers come from `answers` in turn (the last one repeats).
        func withHarness(
            answers: [FakeHTTPAction],
            maxAttempts: Int = 3,
            jitter: Double? = nil,
            credentials: AWSCredentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret"),
            _ body: (Harness) async throws -> Void
        ) async throws {
            let requests = RequestLog()
            let server = try await FakeHTTPServer.start { request in
                let index = requests.append(request)
                return answers[min(index, answers.count - 1)]
            }
            let clock = ManualClock()
            let observer = RecordingObserver()
            let wall = SteppingWallClock()
            // The production client, with connections of its own.
            let aws = try AWSClient(
                configuration: AWSClientConfiguration(
                    userAgent: "sso-admin-exporter/test", timeout: .init(connect: .seconds(2), request: .seconds(5)),
                    retry: jitter.map { value in .init(maxAttempts: maxAttempts, jitter: { value }) }
                        ?? .init(maxAttempts: maxAttempts),
                    clock: AWSClock(clock, wallTime: { wall.next() })))
            let client = AWSJSONClient(
                sender: aws.sender(
                    for: AWSServiceEndpoint(
                        url: URL(string: server.endpoint)!, region: "us-east-1", signingName: "sso"),
                    credentials: StaticCredentialProvider(credentials), observer: observer),
                targetPrefix: "SWBExternalService")
            let harness = Harness(server: server, client: client, clock: clock, observer: observer, requests: requests)
            try await withAsyncCleanup {
                try await body(harness)
            } cleanup: {
                await server.stop()
                try await aws.shutdown()
            }
        }

        static let ok = FakeHTTPAction.respond(status: 200, headers: [], body: Array(#"{"ok":true}"#.utf8))
        static func error(_ code: String, _ status: Int) -> FakeHTTPAction {
            .respond(status: status, headers: [], body: Array(#"{"__type":"\#(code)","message":"m"}"#.utf8))
        }

        func call(_ harness: Harness, deadline: Duration = .seconds(30)) async throws -> String {
            try await harness.client.send(
                Self.operation { String(decoding: $0, as: UTF8.self) }, body: Array("{}".utf8),
                deadline: AWSClock(harness.clock).now().advanced(by: deadline))
        }

        /// `ListInstances` with the test's own decoder.
        static func operation<Output: Sendable>(decode: @escaping @Sendable ([UInt8]) throws -> Output)
            -> AWSOperation<Output>
        {
            AWSOperation(name: "ListInstances", modeledErrors: [], decode: decode)
        }

        @Test("a signed awsJson1_1 request with target, content type, host and user agent")
        func requestShape() async throws {
            try await withHarness(
                answers: [Self.ok],
                credentials: AWSCredentials(accessKeyID: "AKID", secretAccessKey: "secret", sessionToken: "token")
            ) { harness in
                let result = try await call(harness)
                #expect(result == #"{"ok":true}"#)
                let request = try #require(harness.requests.withLock { $0.first })
                #expect(request.method == "POST")
                #expect(request.uri == "/")
                #expect(request.header("X-Amz-Target") == "SWBExternalService.ListInstances")
                #expect(request.header("Content-Type") == "application/x-amz-json-1.1")
                #expect(request.header("Host") == "127.0.0.1:\(harness.server.port)")
                #expect(request.header("User-Agent") == "sso-admin-exporter/test")
                #expect(request.header("X-Amz-Security-Token") == "token")
                let authorization = try #require(request.header("Authorization"))
                #expect(authorization.contains("/us-east-1/sso/aws4_request"))
                #expect(
                    authorization.contains(
                        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target"))
            }
        }

        static func skewed(_ code: String, serverDate: String) -> FakeHTTPAction {
            .respond(
                status: 400, headers: [("Date", serverDate)], body: Array(#"{"__type":"\#(code)","message":"m"}"#.utf8))
        }

        @Test("a skew error with a server Date an hour ahead: re-signed once at the server's time, without a backoff")
        func clockSkewCorrected() async throws {
            try await withHarness(
                answers: [
                    Self.skewed("InvalidSignatureException", serverDate: "Tue, 14 Nov 2023 23:13:20 GMT"), Self.ok,
                ]
            ) { harness in
                _ = try await call(harness)
                let requests = harness.requests.withLock { $0 }
                #expect(requests.count == 2)
                // Wall-clock reads: 1,700,000,001 signs the first attempt, 1,700,000,002 measures the skew (3,598 s),
                // 1,700,000,003 plus the skew signs the second.
                #expect(harness.client.sender.currentClockSkew == 3_598)
                #expect(
                    requests[1].header("X-Amz-Date")
                        == UTCTimestamp.basic(Date(timeIntervalSince1970: 1_700_003_601)))
                #expect(harness.clock.sleeps.isEmpty)
                #expect(harness.observer.recorded == ["ListInstances:InvalidSignatureException", "ListInstances:ok"])
            }
        }

        @Test("a skew error whose server Date is within 5 minutes, or absent, is an ordinary error")
        func clockSkewWithinThreshold() async throws {
            for answer in [
                Self.skewed("InvalidSignatureException", serverDate: "Tue, 14 Nov 2023 22:15:00 GMT"),
                Self.error("RequestExpired", 400),
            ] {
                try await withHarness(answers: [answer, Self.ok]) { harness in
                    await #expect(throws: AWSClientError.self) { _ = try await call(harness) }
                    #expect(harness.client.sender.currentClockSkew == 0)
                    #expect(harness.requests.withLock { $0.count } == 1)
                }
            }
        }

        @Test("throttling then success: retried after a backoff, each attempt signed afresh")
        func throttlingThenSuccess() async throws {
            try await withHarness(answers: [Self.error("ThrottlingException", 400), Self.ok]) { harness in
                _ = try await call(harness)
                let requests = harness.requests.withLock { $0 }
                #expect(requests.count == 2)
                #expect(requests[0].header("X-Amz-Date") != requests[1].header("X-Amz-Date"))
                #expect(requests[0].header("Authorization") != requests[1].header("Authorization"))
                #expect(harness.clock.sleeps.count == 1)
                #expect(harness.clock.sleeps.allSatisfy { $0 <= .seconds(1) })
                #expect(harness.observer.recorded == ["ListInstances:ThrottlingException", "ListInstances:ok"])
            }
        }

        @Test("retries stop at AWS_MAX_ATTEMPTS with the last error")
        func boundedRetries() async throws {
            try await withHarness(answers: [Self.error("InternalServerException", 500)], maxAttempts: 4) { harness in
                await #expect(throws: AWSClientError.self) { try await call(harness) }
                #expect(harness.requests.withLock { $0.count } == 4)
                #expect(harness.clock.sleeps.count == 3)
            }
        }

        @Test(
            "AccessDenied and Validation are never retried",
            arguments: ["AccessDeniedException", "ValidationException"])
        func notRetried(code: String) async throws {
            try await withHarness(answers: [Self.error(code, 400), Self.ok]) { harness in
                do {
                    _ = try await call(harness)
                    Issue.record("expected \(code)")
                } catch let error as AWSClientError {
                    #expect(error.serviceError?.code == code)
                }
                #expect(harness.requests.withLock { $0.count } == 1)
            }
        }

        @Test("a reset connection is retried")
        func connectionReset() async throws {
            try await withHarness(answers: [.closeConnection, Self.ok]) { harness in
                let result = try await call(harness)
                #expect(result == #"{"ok":true}"#)
                #expect(harness.observer.recorded == ["ListInstances:ConnectionError", "ListInstances:ok"])
            }
        }

        @Test("a server that never answers times out at the deadline, not later")
        func hangingServer() async throws {
            try await withHarness(answers: [.hang]) { harness in
                let started = ContinuousClock.now
                do {
                    _ = try await call(harness, deadline: .milliseconds(300))
                    Issue.record("expected a timeout")
                } catch let error as AWSClientError {
                    #expect(error.exceptionName == "Timeout")
                }
                #expect(ContinuousClock.now - started < .seconds(3))
            }
        }

        @Test("no retry is started that could not finish before the deadline")
        func retryRespectsDeadline() async throws {
            try await withHarness(answers: [Self.error("ThrottlingException", 400)], maxAttempts: 10, jitter: 0.5) {
                harness in
                await #expect(throws: AWSClientError.self) { try await call(harness, deadline: .seconds(10)) }
                // Waits of 0.5, 1, 2 and 4 s fit in 10 s; the next (8 s) would end past the deadline.
                #expect(harness.clock.sleeps == [.milliseconds(500), .seconds(1), .seconds(2), .seconds(4)])
                #expect(harness.requests.withLock { $0.count } == 5)
            }
        }

        @Test("a 2xx body the decoder rejects is InvalidResponse and is not retried")
        func malformed() async throws {
            try await withHarness(answers: [.respond(status: 200, headers: [], body: Array("{".utf8))]) { harness in
                do {
                    _ = try await harness.client.send(
                        Self.operation { bytes -> String in
                            _ = try JSONSerialization.jsonObject(with: Data(bytes))
                            return "parsed"
                        }, body: [], deadline: AWSClock(harness.clock).now().advanced(by: .seconds(5)))
                    Issue.record("expected an error")
                } catch let error as AWSClientError {
                    #expect(error.exceptionName == "InvalidResponse")
                }
                #expect(harness.requests.withLock { $0.count } == 1)
            }
        }

        struct UnreadableBody: Error, Equatable {
            let length: Int
        }

        @Test("the decoder's error is kept as the value it threw, not as text")
        func decoderErrorKept() async throws {
            try await withHarness(answers: [.respond(status: 200, headers: [], body: Array("nope".utf8))]) { harness in
                let error = try await #require(throws: AWSClientError.self) {
                    _ = try await harness.client.send(
                        Self.operation { bytes -> String in throw UnreadableBody(length: bytes.count) }, body: [],
                        deadline: AWSClock(harness.clock).now().advanced(by: .seconds(5)))
                }
                #expect(error.isInvalidResponse)
                #expect(error.cause as? UnreadableBody == UnreadableBody(length: 4))
                #expect(error.serviceError == nil && error.transportError == nil && !error.isCancellation)
            }
        }

        @Test("missing credentials fail before sending and are reported")
        func noCredentials() async throws {
            let observer = RecordingObserver()
            // No connection is ever made: the call fails before sending.
            let client = AWSJSONClient(
                sender: AWSClient.unconnected.sender(
                    for: AWSServiceEndpoint(
                        url: URL(string: "http://127.0.0.1:9")!, region: "us-east-1", signingName: "sso"),
                    credentials: EnvironmentCredentialProvider(environment: [:]), observer: observer),
                targetPrefix: "SWBExternalService")
            await #expect(throws: AWSClientError.self) {
                try await client.send(
                    Self.operation { _ in 0 }, body: [], deadline: AWSClock.continuous.now().advanced(by: .seconds(1)))
            }
            #expect(observer.recorded == ["ListInstances:before:CredentialsError"])
        }
    }
}
