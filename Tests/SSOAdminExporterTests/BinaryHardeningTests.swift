import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP client, for clients that misbehave the way HTTP libraries will not.
struct RawConnection {
    let descriptor: Int32

    init?(port: Int) {
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            Glibc.close(socketDescriptor)
            return nil
        }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(socketDescriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        descriptor = socketDescriptor
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Everything until the peer closes, or `nil` if it is still open when the receive timeout ends.
    func readUntilClosed() -> String? {
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { return String(decoding: received, as: UTF8.self) }
            if count < 0 { return errno == ECONNRESET ? String(decoding: received, as: UTF8.self) : nil }
            received.append(contentsOf: buffer[0..<count])
        }
    }

    /// ``readUntilClosed()`` on a thread of its own: a blocking read on the concurrency pool would stall every
    /// other test on this 2-core machine.
    func closedAnswer() async -> String? {
        await withCheckedContinuation { continuation in
            Thread { continuation.resume(returning: readUntilClosed()) }.start()
        }
    }

    func close() { _ = Glibc.close(descriptor) }
}

/// Everything a child process writes to a pipe, read on a thread of its own (a read that waits must not hold one of
/// Swift concurrency's few threads) until the child closes it.
final class PipeCollector: Sendable {
    private let text = Locked("")

    init(_ pipe: Pipe) {
        let handle = pipe.fileHandleForReading
        let text = self.text
        Thread.detachNewThread {
            while true {
                let data = handle.availableData
                if data.isEmpty { return }
                text.withLock { $0 += String(decoding: data, as: UTF8.self) }
            }
        }
    }

    var all: String { text.withLock { $0 } }
}

/// The real binary, started on a free loopback port.
/// Unchecked: the process and pipe are set up in init and only read afterwards.
final class RunningExporter: @unchecked Sendable {
    let process = Process()
    let port: Int
    let output = Pipe()
    /// Everything the exporter has written so far, read as it comes, so that a test can wait for a line and read the
    /// log as often as it likes.
    private var collected: PipeCollector?

    init(arguments: [String], environment: [String: String], shellPrefix: String? = nil) throws {
        let binary = try #require(ExternalProgramTests.BinaryTests.binary)
        port = try ExternalTools.freeLoopbackPort()
        let all = ["--web.listen-address", "127.0.0.1:\(port)"] + arguments
        if let shellPrefix {
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "\(shellPrefix); exec \"$0\" \"$@\"", binary] + all
        } else {
            process.executableURL = URL(fileURLWithPath: binary)
            process.arguments = all
        }
        process.environment = environment
        process.standardError = output
        process.standardOutput = output
        try process.run()
        collected = PipeCollector(output)
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// A whole answer: the body is read before the client goes (a streamed `/metrics` is still arriving when the
    /// head is in).
    struct Answer {
        let status: HTTPResponseStatus
        let body: ByteBuffer
    }

    func get(_ path: String) async -> Answer? {
        let http = HTTPClient(eventLoopGroupProvider: .singleton)
        defer { http.shutdown { _ in } }
        guard
            let response = try? await http.execute(
                HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(5)),
            let body = try? await response.body.collect(upTo: 1 << 24)
        else { return nil }
        return Answer(status: response.status, body: body)
    }

    func waitUntilReady() async throws {
        for _ in 0..<100 {
            if await get("/-/ready")?.status == .ok { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        Issue.record("the exporter did not become ready")
    }

    /// Waits up to `limit` for the process to exit; returns how long it took, or `nil` if it is still running.
    func waitForExit(within limit: Duration) async throws -> Duration? {
        let started = ContinuousClock.now
        while process.isRunning, ContinuousClock.now - started < limit {
            try await Task.sleep(for: .milliseconds(20))
        }
        return process.isRunning ? nil : ContinuousClock.now - started
    }

    func metrics() async throws -> ParsedExposition {
        let answer = try #require(await get("/metrics"))
        return try ExpositionParser.parse(String(buffer: answer.body))
    }

    /// The exporter's standard output and error so far.
    var log: String { collected?.all ?? "" }
}

extension ExternalProgramTests {
    @Suite("the binary under hostile clients, signals and settings", .serialized)
    struct BinaryHardeningTests {
        let environment = [
            "AWS_REGION": "us-east-1", "AWS_ACCESS_KEY_ID": "AKIDBINARYTEST01",
            "AWS_SECRET_ACCESS_KEY": "binary-secret",
            "AWS_EC2_METADATA_DISABLED": "true", "PATH": "/usr/bin:/bin",
        ]

        @Test(
            "URLs with impossible ports or spaces exit 2 at startup, naming where they came from",
            arguments: [
                (["--aws.endpoint-url", "http://127.0.0.1:99999"], [String: String](), "--aws.endpoint-url"),
                (["--aws.endpoint-url", "https://exa mple.com"], [:], "--aws.endpoint-url"),
                ([], ["AWS_ENDPOINT_URL": "http://127.0.0.1:99999"], "AWS_ENDPOINT_URL"),
                ([], ["AWS_ENDPOINT_URL_SSO_ADMIN": "http://127.0.0.1:99999"], "AWS_ENDPOINT_URL_SSO_ADMIN"),
                (
                    [], ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:99999/c"],
                    "AWS_CONTAINER_CREDENTIALS_FULL_URI"
                ),
                (
                    [],
                    [
                        "AWS_EC2_METADATA_DISABLED": "false",
                        "AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:99999",
                    ],
                    "AWS_EC2_METADATA_SERVICE_ENDPOINT"
                ),
                ([], ["HTTP_PROXY": "http://u:p@127.0.0.1:99999"], "HTTP_PROXY"),
                ([], ["HTTPS_PROXY": "notaproxy"], "HTTPS_PROXY"),
                ([], ["AWS_STS_REGIONAL_ENDPOINTS": "weird"], "AWS_STS_REGIONAL_ENDPOINTS"),
            ])
        func badURLs(arguments: [String], variables: [String: String], named: String) async throws {
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            let (status, output) = try await ExternalTools.runDetached(
                binary, arguments, environment: environment.merging(variables) { _, new in new })
            #expect(status == 2, "\(output)")
            #expect(output.contains(named), "\(output)")
        }

        @Test("a listen address in use exits 2 and names it")
        func portInUse() async throws {
            let first = try RunningExporter(arguments: [], environment: environment)
            try await first.waitUntilReady()
            let binary = try #require(ExternalProgramTests.BinaryTests.binary)
            let (status, output) = try await ExternalTools.runDetached(
                binary, ["--web.listen-address", "127.0.0.1:\(first.port)"], environment: environment)
            #expect(status == 2, "\(output)")
            #expect(output.contains("--web.listen-address") && output.contains("127.0.0.1:\(first.port)"), "\(output)")
            #expect(output.contains("in use"), "\(output)")
        }

        @Test("SIGTERM during a hung AWS call exits within seconds, whatever the timeouts")
        func sigtermDuringHungCall() async throws {
            let hung = try await FakeHTTPServer.start { _ in .hang }
            let exporter = try RunningExporter(
                arguments: [
                    "--aws.endpoint-url", hung.endpoint, "--aws.request-timeout", "60s", "--collect.timeout", "60s",
                ],
                environment: environment)
            try await exporter.waitUntilReady()
            async let scrape = exporter.get("/metrics")
            try await Task.sleep(for: .milliseconds(500))
            kill(exporter.process.processIdentifier, SIGTERM)
            let exitedAfter = try await exporter.waitForExit(within: .seconds(10))
            #expect(exitedAfter != nil && exitedAfter! < .seconds(6), "\(String(describing: exitedAfter))")
            #expect(exporter.process.terminationStatus == 0)
            #expect(await scrape?.status == .ok, "the in-flight scrape got no prompt answer")
            await hung.stop()
        }

        @Test("SIGHUP, SIGUSR1 and SIGUSR2 are logged and the exporter keeps serving")
        func otherSignals() async throws {
            let exporter = try RunningExporter(arguments: [], environment: environment)
            try await exporter.waitUntilReady()
            for signal in [SIGHUP, SIGUSR1, SIGUSR2] {
                kill(exporter.process.processIdentifier, signal)
            }
            let names = ["SIGHUP", "SIGUSR1", "SIGUSR2"]
            let logged = try await eventually(within: .seconds(10)) {
                names.allSatisfy { exporter.log.contains("signal=\($0)") }
            }
            #expect(logged, "\(exporter.log)")
            #expect(exporter.process.isRunning)
            #expect(await exporter.get("/-/healthy")?.status == .ok)
        }

        @Test("connections past --web.max-connections are closed and counted; the exporter serves once they go")
        func connectionLimit() async throws {
            let exporter = try RunningExporter(arguments: ["--web.max-connections", "8"], environment: environment)
            try await exporter.waitUntilReady()
            // Let the readiness probe's connection close, so that the eight slots are ours.
            try await Task.sleep(for: .milliseconds(300))
            let held = (0..<20).compactMap { _ in RawConnection(port: exporter.port) }
            #expect(held.count == 20)
            let closed = await withTaskGroup(of: Bool.self) { group in
                for connection in held { group.addTask { await connection.closedAnswer() != nil } }
                return await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(closed == 12, "\(closed) of 20 were closed by the exporter")
            for connection in held { connection.close() }
            try await Task.sleep(for: .milliseconds(300))
            let parsed = try await exporter.metrics()
            #expect(
                (parsed.value("aws_sso_admin_exporter_http_connections_rejected_total", ["reason": "max_connections"])
                    ?? 0)
                    >= 12)
        }

        @Test("a half-sent request and an idle connection are closed after --web.read-timeout, and counted")
        func readTimeout() async throws {
            let exporter = try RunningExporter(arguments: ["--web.read-timeout", "1s"], environment: environment)
            try await exporter.waitUntilReady()
            let slow = try #require(RawConnection(port: exporter.port))
            slow.send("GET /metrics HTTP/1.1\r\nHost: x\r\n")
            let idle = try #require(RawConnection(port: exporter.port))
            let started = ContinuousClock.now
            #expect(await slow.closedAnswer() != nil, "the half-sent request is still open")
            #expect(await idle.closedAnswer() != nil, "the idle connection is still open")
            #expect(ContinuousClock.now - started < .seconds(4))
            slow.close()
            idle.close()
            let parsed = try await exporter.metrics()
            #expect(
                (parsed.value("aws_sso_admin_exporter_http_connections_rejected_total", ["reason": "read_timeout"]) ?? 0)
                    >= 2)
        }

        @Test("HTTP/1.0 without keep-alive is answered and closed")
        func http10() async throws {
            let exporter = try RunningExporter(arguments: [], environment: environment)
            try await exporter.waitUntilReady()
            let connection = try #require(RawConnection(port: exporter.port))
            connection.send("GET /-/healthy HTTP/1.0\r\n\r\n")
            let answer = await connection.closedAnswer()
            connection.close()
            #expect(answer?.contains("200 OK") == true, "\(String(describing: answer))")
            #expect(answer?.lowercased().contains("connection: close") == true)
        }

        @Test("with descriptors nearly exhausted (ulimit -n 64) it survives a flood and serves once they come back")
        func descriptorExhaustion() async throws {
            let exporter = try RunningExporter(
                arguments: ["--web.max-connections", "1000"], environment: environment, shellPrefix: "ulimit -n 64")
            try await exporter.waitUntilReady()
            let flood = (0..<120).compactMap { _ in RawConnection(port: exporter.port) }
            try await Task.sleep(for: .milliseconds(500))
            #expect(exporter.process.isRunning)
            for connection in flood { connection.close() }
            try await Task.sleep(for: .milliseconds(500))
            #expect(await exporter.get("/-/healthy")?.status == .ok)
            let parsed = try await exporter.metrics()
            #expect(
                (parsed.value("aws_sso_admin_exporter_http_connections_rejected_total", ["reason": "max_connections"])
                    ?? 0)
                    > 0)
            #expect(exporter.process.isRunning)
            #expect(exporter.log.contains("lowered to fit the descriptor limit"))
        }
    }
}
