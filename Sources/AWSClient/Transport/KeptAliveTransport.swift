import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import Synchronization

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// ``AWSHTTPTransport`` for direct connections: HTTP/1.1 on kept-alive connections, one exchange at a time on each.
///
/// AWS calls are small POSTs with small answers, and at organization scale their number makes the per-call cost
/// of the HTTP layer the exporter's main CPU cost. This transport writes the head and body of a request in one
/// system call and reads the answer into one buffer, with one event-loop timer as its deadline; AsyncHTTPClient,
/// still used through proxies, costs about twice the CPU per call (the organization benchmark in the README).
///
/// The pool does not limit how many connections are open at once: callers bound their own concurrency (the
/// exporter's `max_concurrency`), and the pool keeps at most ``Configuration/maxIdleConnectionsPerHost`` of them
/// when they are done.
public final class KeptAliveTransport: AWSHTTPTransport {
    /// How connections are made and kept.
    public struct Configuration: Sendable {
        /// The longest a TCP connection (and TLS handshake) may take; the request's own deadline may cut it shorter.
        public var connectTimeout: Duration = .seconds(3)
        /// Idle connections kept per host once their exchange is done.
        public var maxIdleConnectionsPerHost: Int = 8
        /// An idle connection older than this is closed rather than reused: servers close theirs after about a
        /// minute, and a request written to a connection the server is closing fails.
        public var idleTimeout: Duration = .seconds(50)
        /// A larger response body fails the exchange instead of exhausting memory.
        public var maxResponseBytes: Int = 8 << 20

        public init() {}
    }

    private struct HostKey: Hashable {
        let secure: Bool
        let host: String
        let port: Int
    }

    private struct IdleConnection {
        let connection: Connection
        let since: NIODeadline
    }

    public let configuration: Configuration
    private let group: any EventLoopGroup
    private let tlsContext: NIOSSLContext
    private let idle = Mutex<[HostKey: [IdleConnection]]>([:])
    private let isShutDown = Atomic<Bool>(false)

    /// - Parameter tlsConfiguration: for `https` hosts; the default verifies certificates against the system's
    ///   trust store and the host name.
    public init(
        configuration: Configuration = Configuration(),
        tlsConfiguration: TLSConfiguration = .makeClientConfiguration(),
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) throws {
        self.configuration = configuration
        self.group = group
        self.tlsContext = try NIOSSLContext(configuration: tlsConfiguration)
    }

    public func send(_ request: AWSHTTPRequest, timeout: Duration) async throws -> AWSHTTPResponse {
        guard !isShutDown.load(ordering: .relaxed) else {
            throw AWSTransportError.connection("the HTTP transport is shut down")
        }
        let target = try Self.target(of: request.url)
        let head = try Self.requestHead(request, target: target)
        let deadline = NIODeadline.now() + .nanoseconds(Int64(max(1_000_000, timeout.clampedNanoseconds)))
        let connection: Connection
        if let reused = takeIdle(target.key) {
            connection = reused
        } else {
            connection = try await connect(target, deadline: deadline)
        }
        let response: AWSHTTPResponse
        let keepAlive: Bool
        do {
            (response, keepAlive) = try await withTaskCancellationHandler {
                try await connection.exchange(
                    head: head, body: request.body, deadline: deadline,
                    maxResponseBytes: configuration.maxResponseBytes)
            } onCancel: {
                connection.abort()
            }
        } catch let error as AWSTransportError {
            throw error
        } catch {
            throw AsyncHTTPClientTransport.classify(error, target: target.description)
        }
        if keepAlive {
            putIdle(connection, target.key)
        } else {
            connection.close()
        }
        return response
    }

    /// Closes every idle connection; later requests fail.
    public func shutdown() async {
        isShutDown.store(true, ordering: .relaxed)
        let all = idle.withLock { idle in
            defer { idle.removeAll() }
            return idle.values.flatMap { $0 }
        }
        for entry in all { try? await entry.connection.channel.close() }
    }

    // MARK: - The pool

    private func takeIdle(_ key: HostKey) -> Connection? {
        let now = NIODeadline.now()
        let idleTimeout = TimeAmount.nanoseconds(Int64(configuration.idleTimeout.clampedNanoseconds))
        var expired: [Connection] = []
        defer { for connection in expired { connection.close() } }
        return idle.withLock { idle in
            while var entries = idle[key], let entry = entries.popLast() {
                idle[key] = entries.isEmpty ? nil : entries
                if now - entry.since < idleTimeout, entry.connection.channel.isActive {
                    return entry.connection
                }
                expired.append(entry.connection)
            }
            return nil
        }
    }

    private func putIdle(_ connection: Connection, _ key: HostKey) {
        let kept = idle.withLock { idle in
            guard !isShutDown.load(ordering: .relaxed),
                idle[key, default: []].count < configuration.maxIdleConnectionsPerHost
            else { return false }
            idle[key, default: []].append(IdleConnection(connection: connection, since: .now()))
            return true
        }
        if !kept { connection.close() }
    }

    private func connect(_ target: Target, deadline: NIODeadline) async throws -> Connection {
        let connectTimeout = min(
            TimeAmount.nanoseconds(Int64(configuration.connectTimeout.clampedNanoseconds)),
            max(.milliseconds(1), deadline - .now()))
        let tlsContext = target.key.secure ? self.tlsContext : nil
        let host = target.key.host
        let maxResponseBytes = configuration.maxResponseBytes
        do {
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(connectTimeout)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .channelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        let sync = channel.pipeline.syncOperations
                        if let tlsContext {
                            // An IP address is not a valid SNI name; verification still checks it.
                            let serverName = host.isIPAddress ? nil : host
                            try sync.addHandler(
                                try NIOSSLClientHandler(context: tlsContext, serverHostname: serverName))
                        }
                        // NIO's header validator is left out: requestHead(_:target:) checks the same rules
                        // for a quarter of the CPU.
                        try sync.addHandler(HTTPRequestEncoder())
                        try sync.addHandler(
                            ByteToMessageHandler(HTTPResponseDecoder(leftOverBytesStrategy: .dropBytes)))
                        try sync.addHandler(ExchangeHandler(maxResponseBytes: maxResponseBytes))
                    }
                }
                .connect(host: host, port: target.key.port).get()
            let handler = try await channel.eventLoop.submit {
                NIOLoopBound(
                    try channel.pipeline.syncOperations.handler(type: ExchangeHandler.self),
                    eventLoop: channel.eventLoop)
            }.get()
            return Connection(channel: channel, handler: handler)
        } catch {
            if case ChannelError.connectTimeout = error { throw AWSTransportError.timeout }
            throw AsyncHTTPClientTransport.classify(error, target: target.description)
        }
    }

    // MARK: - Requests

    private struct Target: CustomStringConvertible {
        let key: HostKey
        /// Path and query as they go on the request line.
        let requestTarget: String
        /// The `Host` header's value: the port only when it is not the scheme's default.
        let hostHeader: String

        var description: String { "\(key.host):\(key.port)" }
    }

    private static func target(of url: URL) throws -> Target {
        if let problem = EndpointURL.problem(with: url) { throw AWSTransportError.invalidRequest(problem) }
        guard let scheme = url.scheme?.lowercased(), scheme == "https" || scheme == "http", let host = url.host
        else { throw AWSTransportError.invalidRequest("not an http:// or https:// URL") }
        let secure = scheme == "https"
        let defaultPort = secure ? 443 : 80
        let port = url.port ?? defaultPort
        let path = url.path(percentEncoded: true)
        var requestTarget = path.isEmpty ? "/" : path
        if let query = url.query(percentEncoded: true) { requestTarget += "?\(query)" }
        let bracketed = host.contains(":") ? "[\(host)]" : host
        return Target(
            key: HostKey(secure: secure, host: host, port: port), requestTarget: requestTarget,
            hostHeader: port == defaultPort ? bracketed : "\(bracketed):\(port)")
    }

    private static func requestHead(_ request: AWSHTTPRequest, target: Target) throws -> HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.reserveCapacity(request.headers.count + 2)
        var hasHost = false
        for (name, value) in request.headers {
            // A value from a file or a variable must not smuggle a second header or request onto the wire.
            guard Self.isValidHeader(name: name, value: value) else {
                throw AWSTransportError.invalidRequest(
                    "header \(NetworkText.sanitized(name, limit: 64)) has a character HTTP does not allow")
            }
            if !hasHost, name.utf8.count == 4, name.lowercased() == "host" { hasHost = true }
            headers.add(name: name, value: value)
        }
        if !hasHost { headers.add(name: "Host", value: target.hostHeader) }
        headers.replaceOrAdd(name: "Content-Length", value: String(request.body.count))
        return HTTPRequestHead(
            version: .http1_1, method: HTTPMethod(rawValue: request.method), uri: target.requestTarget,
            headers: headers)
    }

    static func isValidHeader(name: String, value: String) -> Bool {
        guard !name.isEmpty else { return false }
        for byte in name.utf8 {
            // RFC 9110 token characters.
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"):
                continue
            case UInt8(ascii: "!"), UInt8(ascii: "#"), UInt8(ascii: "$"), UInt8(ascii: "%"), UInt8(ascii: "&"),
                UInt8(ascii: "'"), UInt8(ascii: "*"), UInt8(ascii: "+"), UInt8(ascii: "-"), UInt8(ascii: "."),
                UInt8(ascii: "^"), UInt8(ascii: "_"), UInt8(ascii: "`"), UInt8(ascii: "|"), UInt8(ascii: "~"):
                continue
            default: return false
            }
        }
        return !value.utf8.contains { $0 == 0 || $0 == UInt8(ascii: "\r") || $0 == UInt8(ascii: "\n") }
    }
}

extension String {
    fileprivate var isIPAddress: Bool {
        contains(":") || (!isEmpty && allSatisfy { $0 == "." || $0.isASCII && $0.isNumber })
    }
}

/// One connection and the handler that reads its answers.
private struct Connection: Sendable {
    let channel: any Channel
    let handler: NIOLoopBound<ExchangeHandler>

    /// Sends the request and waits for the whole answer, or for `deadline`, whichever comes first; returns
    /// whether the connection may carry another exchange.
    func exchange(head: HTTPRequestHead, body: [UInt8], deadline: NIODeadline, maxResponseBytes: Int)
        async throws -> (AWSHTTPResponse, Bool)
    {
        let promise = channel.eventLoop.makePromise(of: (AWSHTTPResponse, Bool).self)
        channel.eventLoop.execute { [channel, handler] in
            handler.value.begin(promise, deadline: deadline, channel: channel)
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            if !body.isEmpty {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
            }
            // One flush: head and body leave in one system call.
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }
        return try await promise.futureResult.get()
    }

    /// Ends the exchange in progress, as a cancelled task must.
    func abort() {
        channel.eventLoop.execute { [handler] in handler.value.fail(CancellationError()) }
    }

    func close() {
        channel.close(promise: nil)
    }
}

/// Collects one response at a time; anything that ends the connection fails the exchange in progress.
private final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    private let maxResponseBytes: Int
    private var promise: EventLoopPromise<(AWSHTTPResponse, Bool)>?
    private var deadlineTask: Scheduled<Void>?
    private var channel: (any Channel)?
    private var head: HTTPResponseHead?
    private var body = ByteBuffer()

    init(maxResponseBytes: Int) {
        self.maxResponseBytes = maxResponseBytes
    }

    func begin(_ promise: EventLoopPromise<(AWSHTTPResponse, Bool)>, deadline: NIODeadline, channel: any Channel) {
        guard self.promise == nil, channel.isActive else {
            promise.fail(AWSTransportError.connection("connection closed before the request was sent"))
            return
        }
        self.promise = promise
        self.channel = channel
        head = nil
        body.clear()
        // The timer holds the handler until it fires or finish() cancels it, whichever comes first.
        let handler = NIOLoopBound(self, eventLoop: channel.eventLoop)
        deadlineTask = channel.eventLoop.scheduleTask(deadline: deadline) {
            handler.value.fail(AWSTransportError.timeout)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard promise != nil else { return }
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
        case .body(var part):
            guard body.readableBytes + part.readableBytes <= maxResponseBytes else {
                fail(AWSTransportError.invalidResponse("response body larger than the limit"))
                return
            }
            body.writeBuffer(&part)
        case .end:
            guard let head, let promise else { return }
            finish()
            let response = AWSHTTPResponse(
                status: Int(head.status.code),
                headers: head.headers.map { ($0.name, $0.value) },
                body: body.readBytes(length: body.readableBytes) ?? [])
            promise.succeed((response, head.isKeepAlive))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        fail(AWSTransportError.connection("connection closed before the whole response arrived"))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        fail(error)
    }

    /// Fails the exchange in progress and closes the connection, whose state is no longer known.
    func fail(_ error: any Error) {
        guard let promise else { return }
        let channel = self.channel
        finish()
        promise.fail(error)
        channel?.close(promise: nil)
    }

    private func finish() {
        deadlineTask?.cancel()
        deadlineTask = nil
        promise = nil
        channel = nil
    }
}
