import AWSClient
import Foundation
import NIOSSL
import Synchronization
import TestSupport
import Testing

extension DeadlineTests {
    @Suite("kept-alive transport: connection reuse, framing, limits and TLS")
    struct KeptAliveTransportTests {
        func withTransport(
            maxResponseBytes: Int = 8 << 20,
            tls: TLSConfiguration = .makeClientConfiguration(),
            _ body: (KeptAliveTransport) async throws -> Void
        ) async throws {
            var configuration = KeptAliveTransport.Configuration()
            configuration.maxResponseBytes = maxResponseBytes
            let transport = try KeptAliveTransport(configuration: configuration, tlsConfiguration: tls)
            try await withAsyncCleanup {
                try await body(transport)
            } cleanup: {
                await transport.shutdown()
            }
        }

        /// Runs `body`, then stops `server` whether it passed or not.
        func serving(_ server: FakeHTTPServer, _ body: () async throws -> Void) async throws {
            try await withAsyncCleanup {
                try await body()
            } cleanup: {
                await server.stop()
            }
        }

        static func get(_ url: String, headers: [(name: String, value: String)] = []) -> AWSHTTPRequest {
            AWSHTTPRequest(method: "GET", url: URL(string: url)!, headers: headers, body: [])
        }

        @Test("sequential requests to one host share one connection")
        func reuse() async throws {
            let server = try await FakeHTTPServer.start { request in
                .respond(status: 200, headers: [], body: Array(String(request.remotePort ?? -1).utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    var ports: Set<String> = []
                    for _ in 0..<5 {
                        let response = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                        #expect(response.status == 200)
                        ports.insert(String(decoding: response.body, as: UTF8.self))
                    }
                    #expect(ports.count == 1, "\(ports)")
                }
            }
        }

        @Test("a task preferring the transport's executor runs on the loop of its connection, and keeps it")
        func taskExecutor() async throws {
            let server = try await FakeHTTPServer.start { request in
                .respond(status: 200, headers: [], body: Array(String(request.remotePort ?? -1).utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    #expect(transport.taskExecutor.currentLoop == nil)
                    let (ports, loops) = try await withTaskExecutorPreference(transport.taskExecutor) {
                        var ports: Set<String> = []
                        var loops: Set<ObjectIdentifier> = []
                        for _ in 0..<5 {
                            let response = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                            ports.insert(String(decoding: response.body, as: UTF8.self))
                            loops.insert(try #require(transport.taskExecutor.currentLoop.map { ObjectIdentifier($0) }))
                        }
                        return (ports, loops)
                    }
                    #expect(ports.count == 1, "\(ports)")
                    #expect(loops.count == 1)
                }
            }
        }

        @Test("the request arrives as it was given: method, path and query, Host with its port, length and body")
        func framing() async throws {
            let received = Mutex<FakeHTTPRequest?>(nil)
            let server = try await FakeHTTPServer.start { request in
                received.withLock { $0 = request }
                return .respond(status: 201, headers: [("X-Answer", "yes")], body: Array("done".utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    let response = try await transport.send(
                        AWSHTTPRequest(
                            method: "POST", url: URL(string: "\(server.endpoint)/a/b%20c?x=1&y=%2F")!,
                            headers: [("Content-Type", "application/x-amz-json-1.1"), ("X-Amz-Target", "Op")],
                            body: Array(#"{"MaxResults":10}"#.utf8)),
                        timeout: .seconds(5))
                    #expect(response.status == 201)
                    #expect(response.header("x-answer") == "yes")
                    #expect(response.body == Array("done".utf8))
                }
            }
            let request = try #require(received.withLock { $0 })
            #expect(request.method == "POST")
            #expect(request.uri == "/a/b%20c?x=1&y=%2F")
            #expect(request.header("Host")?.hasPrefix("127.0.0.1:") == true)
            #expect(request.header("Content-Length") == "17")
            #expect(request.header("X-Amz-Target") == "Op")
            #expect(request.body == Array(#"{"MaxResults":10}"#.utf8))
        }

        @Test("a connection the server says it closes is not reused")
        func connectionClose() async throws {
            let server = try await FakeHTTPServer.start { request in
                .respond(
                    status: 200, headers: [("Connection", "close")],
                    body: Array(String(request.remotePort ?? -1).utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    let first = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                    let second = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                    #expect(first.body != second.body)
                }
            }
        }

        @Test("a connection the server closed without saying so fails, if at all, as a retryable connection error")
        func silentClose() async throws {
            let server = try await FakeHTTPServer.start { request in
                .respondThenClose(status: 200, body: Array(String(request.remotePort ?? -1).utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    let first = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                    var second: AWSHTTPResponse?
                    // The close may reach the client after the next request took the connection; that request fails
                    // as a connection error (which the retry rules retry) and the one after it gets a new connection.
                    for _ in 0..<2 where second == nil {
                        do {
                            second = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                        } catch let error as AWSTransportError {
                            guard case .connection = error else {
                                Issue.record("expected a connection error, got \(error)")
                                return
                            }
                        }
                    }
                    let answer = try #require(second)
                    #expect(answer.status == 200)
                    #expect(answer.body != first.body)
                }
            }
        }

        @Test("a body above the limit fails the exchange instead of filling memory")
        func bodyLimit() async throws {
            let server = try await FakeHTTPServer.start { _ in
                .respond(status: 200, headers: [], body: Array(repeating: 0x61, count: 5_000))
            }
            try await serving(server) {
                try await withTransport(maxResponseBytes: 1_000) { transport in
                    await #expect(throws: AWSTransportError.invalidResponse("response body larger than the limit")) {
                        _ = try await transport.send(Self.get(server.endpoint), timeout: .seconds(5))
                    }
                }
            }
        }

        @Test("a header that would smuggle another header onto the wire is refused before anything is sent")
        func headerInjection() async throws {
            let requests = Atomic<Int>(0)
            let server = try await FakeHTTPServer.start { _ in
                requests.add(1, ordering: .relaxed)
                return .respond(status: 200, headers: [], body: [])
            }
            try await serving(server) {
                try await withTransport { transport in
                    for (name, value) in [("X-Tag", "a\r\nX-Evil: 1"), ("X-Tag", "a\nb"), ("Bad Name", "v"), ("", "v")]
                    {
                        do {
                            _ = try await transport.send(
                                Self.get(server.endpoint, headers: [(name, value)]), timeout: .seconds(5))
                            Issue.record("sent a request with header \(name.debugDescription)")
                        } catch let error as AWSTransportError {
                            guard case .invalidRequest = error else {
                                Issue.record("expected invalidRequest, got \(error)")
                                continue
                            }
                        }
                    }
                }
            }
            #expect(requests.load(ordering: .relaxed) == 0)
        }

        @Test("each exchange on a reused connection ends at its own deadline, earlier or later than the one before")
        func deadlinesOnReusedConnection() async throws {
            // Odd requests are answered, even ones hang: each hanging exchange follows an answered one on the same
            // connection, whose deadline the connection's timer was set for.
            let count = Atomic<Int>(0)
            let server = try await FakeHTTPServer.start { request in
                let number = count.add(1, ordering: .relaxed).newValue
                return number.isMultiple(of: 2)
                    ? .hang : .respond(status: 200, headers: [], body: Array(String(request.remotePort ?? -1).utf8))
            }
            try await serving(server) {
                try await withTransport { transport in
                    // Earlier than the timer: a 60 s exchange, then one of 300 ms.
                    _ = try await transport.send(Self.get(server.endpoint), timeout: .seconds(60))
                    var started = ContinuousClock.now
                    await #expect(throws: AWSTransportError.timeout) {
                        _ = try await transport.send(Self.get(server.endpoint), timeout: .milliseconds(300))
                    }
                    #expect(ContinuousClock.now - started < .seconds(10))

                    // Later than the timer: a 200 ms exchange answered at once, then one of 1.5 s, which must not end
                    // when the first one's deadline passes.
                    _ = try await transport.send(Self.get(server.endpoint), timeout: .milliseconds(200))
                    started = ContinuousClock.now
                    await #expect(throws: AWSTransportError.timeout) {
                        _ = try await transport.send(Self.get(server.endpoint), timeout: .milliseconds(1_500))
                    }
                    let elapsed = ContinuousClock.now - started
                    #expect(elapsed >= .milliseconds(1_400) && elapsed < .seconds(10), "\(elapsed)")
                }
            }
            #expect(count.load(ordering: .relaxed) == 4)
        }

        @Test("a cancelled task ends its exchange at once, whatever the request's timeout")
        func cancellation() async throws {
            let (arrived, arrival) = AsyncStream<Void>.makeStream()
            let server = try await FakeHTTPServer.start { _ in
                arrival.yield()
                return .hang
            }
            try await serving(server) {
                try await withTransport { transport in
                    let started = ContinuousClock.now
                    let outcome = await withTaskGroup(of: (any Error)?.self) { group in
                        group.addTask {
                            do {
                                _ = try await transport.send(Self.get(server.endpoint), timeout: .seconds(60))
                                return nil
                            } catch {
                                return error
                            }
                        }
                        for await _ in arrived { break }
                        group.cancelAll()
                        return await group.next()!
                    }
                    #expect(outcome != nil)
                    #expect(ContinuousClock.now - started < .seconds(30))
                }
            }
        }

        @Test("https: a certificate is checked against the trusted roots and the host name")
        func tls() async throws {
            try #require(ExternalTools.shouldRun("openssl"))
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let port = try ExternalTools.freeLoopbackPort()
            let server = try ExternalProcess(
                name: "openssl s_server", executable: try #require(ExternalTools.path("openssl")),
                arguments: [
                    "s_server", "-accept", "\(port)", "-cert", pki.path("server.pem"), "-key", pki.path("server.key"),
                    "-www", "-quiet",
                ],
                logFile: pki.directory.appendingPathComponent("s_server.log"))
            defer { server.stop() }
            var trusting = TLSConfiguration.makeClientConfiguration()
            trusting.trustRoots = .file(pki.path("ca.pem"))
            try await withTransport(tls: trusting) { transport in
                var response: AWSHTTPResponse?
                // s_server takes a moment to listen; a refused connection before that is expected.
                for _ in 0..<100 where response == nil {
                    response = try? await transport.send(Self.get("https://127.0.0.1:\(port)/"), timeout: .seconds(5))
                    if response == nil { try await Task.sleep(for: .milliseconds(50)) }
                }
                let answer = try #require(response, "\(server.logTail())")
                #expect(answer.status == 200)
                #expect(String(decoding: answer.body, as: UTF8.self).contains("s_server"))
                let named = try await transport.send(Self.get("https://localhost:\(port)/"), timeout: .seconds(5))
                #expect(named.status == 200)
                // 127.0.0.2 reaches the same server, but the certificate does not name it.
                try await expectRejected(transport, "https://127.0.0.2:\(port)/")
            }
            try await withTransport { transport in
                try await expectRejected(transport, "https://127.0.0.1:\(port)/")
            }
        }

        /// The handshake fails: a connection error that is not a refusal (the server is up and listening).
        func expectRejected(_ transport: KeptAliveTransport, _ url: String) async throws {
            do {
                _ = try await transport.send(Self.get(url), timeout: .seconds(5))
                Issue.record("\(url) was accepted")
            } catch let error as AWSTransportError {
                guard case .connection(let detail) = error else {
                    Issue.record("expected a connection error, got \(error)")
                    return
                }
                #expect(!detail.contains("refused"), "\(detail)")
            }
        }
    }
}
