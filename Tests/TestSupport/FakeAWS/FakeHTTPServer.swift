import NIOCore
import NIOHTTP1
import NIOPosix

/// A request as the fake server received it.
public struct FakeHTTPRequest: Sendable {
    public var method: String
    public var uri: String
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]
    /// The client's port: requests with the same one came on the same connection.
    public var remotePort: Int?

    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }
}

/// What the fake server does with a request, including the faults a real network produces.
public enum FakeHTTPAction: Sendable {
    case respond(status: Int, headers: [(String, String)], body: [UInt8])
    /// Close the connection without answering (a reset as the client sees it).
    case closeConnection
    /// Never answer; the connection stays open until the server stops.
    case hang
    /// Answer, then close the connection without having said so, as a server does with a connection it thinks idle.
    case respondThenClose(status: Int, body: [UInt8])
    /// Send the head with a Content-Length of `promisedBytes`, then `sent` (fewer bytes), then nothing.
    case stallBody(status: Int, headers: [(String, String)], promisedBytes: Int, sent: [UInt8])
}

/// A loopback HTTP/1.1 server whose every answer comes from a handler, for protocol tests and benchmarks.
public final class FakeHTTPServer: Sendable {
    public let port: Int
    private let channel: any Channel

    /// Listens on loopback, on `port` or (by default) a free one.
    public static func start(
        port: Int = 0,
        handler: @escaping @Sendable (FakeHTTPRequest) async -> FakeHTTPAction
    ) async throws -> FakeHTTPServer {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.pipeline.configureHTTPServerPipeline(withErrorHandling: true).flatMap {
                    channel.pipeline.addHandler(FakeRequestHandler(handler: handler))
                }
            }
            .bind(host: "127.0.0.1", port: port)
            .get()
        return FakeHTTPServer(channel: channel, port: channel.localAddress?.port ?? 0)
    }

    private init(channel: any Channel, port: Int) {
        self.channel = channel
        self.port = port
    }

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    public func stop() async {
        try? await channel.close()
    }
}

private final class FakeRequestHandler: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let handler: @Sendable (FakeHTTPRequest) async -> FakeHTTPAction
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []

    init(handler: @escaping @Sendable (FakeHTTPRequest) async -> FakeHTTPAction) {
        self.handler = handler
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            self.head = head
            body = []
        case .body(var buffer):
            body.append(contentsOf: buffer.readBytes(length: buffer.readableBytes) ?? [])
        case .end:
            guard let head else { return }
            let request = FakeHTTPRequest(
                method: head.method.rawValue,
                uri: head.uri,
                headers: head.headers.map { ($0.name, $0.value) },
                body: body,
                remotePort: context.remoteAddress?.port
            )
            let handler = self.handler
            let promise = context.eventLoop.makePromise(of: FakeHTTPAction.self)
            promise.completeWithTask { await handler(request) }
            let keepAlive = head.isKeepAlive
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            promise.futureResult.whenSuccess { action in
                let context = loopBound.value
                switch action {
                case .respond(let status, let headers, let body):
                    var responseHeaders = HTTPHeaders(headers)
                    responseHeaders.replaceOrAdd(name: "Content-Length", value: String(body.count))
                    if !keepAlive { responseHeaders.replaceOrAdd(name: "Connection", value: "close") }
                    let responseHead = HTTPResponseHead(
                        version: .http1_1,
                        status: HTTPResponseStatus(statusCode: status),
                        headers: responseHeaders
                    )
                    context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
                    context.write(
                        NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))),
                        promise: nil
                    )
                    let done = context.writeAndFlushPromise()
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: done)
                    if !keepAlive {
                        done.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
                    }
                case .respondThenClose(let status, let body):
                    let responseHead = HTTPResponseHead(
                        version: .http1_1, status: HTTPResponseStatus(statusCode: status),
                        headers: ["Content-Length": String(body.count)])
                    context.write(NIOAny(HTTPServerResponsePart.head(responseHead)), promise: nil)
                    context.write(
                        NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: body)))), promise: nil)
                    let done = context.writeAndFlushPromise()
                    context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: done)
                    done.futureResult.whenComplete { _ in loopBound.value.close(promise: nil) }
                case .closeConnection:
                    context.close(promise: nil)
                case .hang:
                    break
                case .stallBody(let status, let headers, let promisedBytes, let sent):
                    var responseHeaders = HTTPHeaders(headers)
                    responseHeaders.replaceOrAdd(name: "Content-Length", value: String(promisedBytes))
                    context.write(
                        NIOAny(
                            HTTPServerResponsePart.head(
                                HTTPResponseHead(
                                    version: .http1_1, status: HTTPResponseStatus(statusCode: status),
                                    headers: responseHeaders))),
                        promise: nil)
                    context.writeAndFlush(
                        NIOAny(HTTPServerResponsePart.body(.byteBuffer(ByteBuffer(bytes: sent)))), promise: nil)
                }
            }
        }
    }
}

extension ChannelHandlerContext {
    fileprivate func writeAndFlushPromise() -> EventLoopPromise<Void> { eventLoop.makePromise() }
}
