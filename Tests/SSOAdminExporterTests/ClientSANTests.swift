import AWSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL
import NIOTLS
import TestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// Passes a TLS client's first flight (the ClientHello), then holds everything until ``release()`` and sends it in
/// one write: the client's Finished and the request after it reach the server together, as an attacker sends them.
final class CoalescingWriter: ChannelOutboundHandler, RemovableChannelHandler {
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var context: ChannelHandlerContext?
    private var firstFlightSent = false
    private var released = false
    private var held = ByteBuffer()
    private var promises: [EventLoopPromise<Void>] = []

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }
    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard firstFlightSent, !released else {
            context.write(data, promise: promise)
            return
        }
        var buffer = unwrapOutboundIn(data)
        held.writeBuffer(&buffer)
        if let promise { promises.append(promise) }
    }

    func flush(context: ChannelHandlerContext) {
        if !firstFlightSent {
            firstFlightSent = true
            context.flush()
        } else if released {
            context.flush()
        }
    }

    func release() {
        guard let context, !released else { return }
        released = true
        let written = context.eventLoop.makePromise(of: Void.self)
        for promise in promises { written.futureResult.cascade(to: promise) }
        promises = []
        context.writeAndFlush(wrapOutboundOut(held), promise: written)
    }
}

/// Writes `request` the moment the client's handshake ends, so that it leaves with the Finished, and collects every
/// decrypted byte the server sends until the connection closes.
final class RequestWithFinished: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let request: String
    let writer: CoalescingWriter
    let answer: EventLoopPromise<String>
    private var received = ""

    init(request: String, writer: CoalescingWriter, answer: EventLoopPromise<String>) {
        self.request = request
        self.writer = writer
        self.answer = answer
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case .handshakeCompleted = event as? TLSUserEvent {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: request)), promise: nil)
            writer.release()
        }
        context.fireUserInboundEventTriggered(event)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        received += String(buffer: unwrapInboundIn(data))
    }

    func channelInactive(context: ChannelHandlerContext) {
        answer.succeed(received)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

extension ExternalProgramTests {
    @Suite("client_allowed_sans: a refused certificate gets no byte of a request served", .serialized)
    struct ClientSANTests {
        static var toolsPresent: Bool { ExternalTools.shouldRun("curl", "openssl") }

        /// Connects with `certificate`, sends `request` in the same write as the TLS Finished, and returns every
        /// byte of answer until the server closes (or 15 s pass).
        static func sendWithFinished(_ request: String, port: Int, pki: TestPKI, certificate: String) async throws
            -> String
        {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.trustRoots = .file(pki.path("ca.pem"))
            tls.certificateChain = try NIOSSLCertificate.fromPEMFile(pki.path("\(certificate).pem")).map {
                .certificate($0)
            }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(file: pki.path("\(certificate).key"), format: .pem))
            let context = try NIOSSLContext(configuration: tls)
            let answer = MultiThreadedEventLoopGroup.singleton.next().makePromise(of: String.self)
            let channel: any Channel
            do {
                channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .channelInitializer { channel in
                        channel.eventLoop.makeCompletedFuture {
                            let writer = CoalescingWriter()
                            let operations = channel.pipeline.syncOperations
                            try operations.addHandler(writer)
                            try operations.addHandler(
                                NIOSSLClientHandler(context: context, serverHostname: "localhost"))
                            try operations.addHandler(
                                RequestWithFinished(request: request, writer: writer, answer: answer))
                        }
                    }
                    .connect(host: "127.0.0.1", port: port).get()
            } catch {
                answer.fail(error)
                throw error
            }
            let timeout = channel.eventLoop.scheduleTask(in: .seconds(15)) { channel.close(promise: nil) }
            defer { timeout.cancel() }
            return try await answer.futureResult.get()
        }

        static func waitUntilListening(_ exporter: RunningExporter) async throws {
            // A TLS probe cannot tell "not up yet" from "needs a client certificate": listening is enough.
            for _ in 0..<100 {
                if let connection = RawConnection(port: exporter.port) {
                    connection.close()
                    return
                }
                try await Task.sleep(for: .milliseconds(100))
            }
            Issue.record("the exporter never listened")
        }

        @Test(
            "a certificate without an allowed SAN: requests sent with the Finished reach no handler, AWS or reload",
            .enabled(if: toolsPresent), .timeLimit(.minutes(2)),
            arguments: ["RequireAndVerifyClientCert", "RequireAnyClientCert"])
        func refusedBeforeAnyRequest(clientAuth: String) async throws {
            let pki = try await TestPKI.make()
            defer { pki.remove() }
            let simulator = OrganizationSimulator.generated(accounts: 1, regions: ["us-east-1"])
            let awsCalls = Locked(0)
            let server = try await FakeHTTPServer.start { request in
                awsCalls.withLock { $0 += 1 }
                return await simulator.handle(request)
            }
            try await withAsyncCleanup {
                let targets = pki.path("targets.yml")
                try
                    (SimulatedOrganization.targetsYAML(simulator, accounts: 1, regions: ["us-east-1"])
                    + "collection:\n  mode: on_scrape\n").write(toFile: targets, atomically: true, encoding: .utf8)
                let ca = clientAuth == "RequireAndVerifyClientCert" ? "  client_ca_file: ca.pem\n" : ""
                try """
                tls_server_config:
                  cert_file: server.pem
                  key_file: server.key
                  client_auth_type: \(clientAuth)
                  client_allowed_sans: [prometheus.example]

                """.appending(ca).write(toFile: pki.path("web.yml"), atomically: true, encoding: .utf8)
                let exporter = try RunningExporter(
                    arguments: [
                        "--web.config.file", pki.path("web.yml"), "--config.file", targets, "--web.enable-lifecycle",
                    ],
                    environment: [
                        "AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1",
                        "AWS_ACCESS_KEY_ID": simulator.managementCredentials.accessKeyID,
                        "AWS_SECRET_ACCESS_KEY": simulator.managementCredentials.secretAccessKey,
                        "AWS_EC2_METADATA_DISABLED": "true", "HOME": pki.directory.path,
                    ])
                try await Self.waitUntilListening(exporter)
                let before = awsCalls.withLock { $0 }
                let pipelined =
                    "POST /-/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"
                    + "GET /probe?target=management HTTP/1.1\r\nHost: localhost\r\n\r\n"
                    + "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
                for _ in 0..<5 {
                    let answer = try await Self.sendWithFinished(
                        pipelined, port: exporter.port, pki: pki, certificate: "stranger")
                    #expect(answer.isEmpty, "a refused client was answered: \(answer.prefix(200))")
                }
                // curl sends its request after the handshake, in a write of its own.
                let url = "https://localhost:\(exporter.port)"
                let curlCertificate = [
                    "--cacert", pki.path("ca.pem"), "--cert", pki.path("stranger.pem"), "--key",
                    pki.path("stranger.key"),
                ]
                let curled = try await SecuredEndpointTests.curl(curlCertificate + ["-X", "POST", "\(url)/-/reload"])
                #expect(curled.status == 0, "\(curled.output)")
                #expect(try await SecuredEndpointTests.curl(curlCertificate + ["\(url)/metrics"]).status == 0)
                #expect(awsCalls.withLock { $0 } == before, "a refused client's request called AWS")

                // The allowed certificate, sending the same way, is served: what came with the Finished was held
                // until the check passed, not lost.
                let allowed = try await Self.sendWithFinished(
                    "POST /-/reload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    port: exporter.port, pki: pki, certificate: "client")
                #expect(allowed.hasPrefix("HTTP/1.1 200"), "\(allowed)")
                #expect(allowed.contains("reloaded:"), "\(allowed)")
                let scrape = try await SecuredEndpointTests.curl([
                    "--cacert", pki.path("ca.pem"), "--cert", pki.path("client.pem"), "--key", pki.path("client.key"),
                    "\(url)/metrics",
                ])
                #expect(scrape.status == 200)
                let metrics = try ExpositionParser.parse(scrape.output)
                #expect(
                    metrics.value("aws_sso_admin_exporter_config_reloads_total", ["result": "success"]) == 1,
                    "reloads ran for a refused client")
                // Five from the client above and two from curl; an alert can watch them.
                #expect(
                    metrics.value(
                        "aws_sso_admin_exporter_http_connections_rejected_total", ["reason": "client_san"]) == 7)
                #expect(exporter.log.contains("TLS client refused"), "\(exporter.log)")
            } cleanup: {
                await server.stop()
            }
        }
    }
}
