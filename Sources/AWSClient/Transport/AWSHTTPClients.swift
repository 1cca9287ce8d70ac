import AsyncHTTPClient
import ServiceLifecycle

/// The HTTP clients behind a transport. Run as a `Service`, they live as long as the service group and are shut down
/// after the services that use them, so a program that makes AWS calls never handles AsyncHTTPClient itself.
public struct AWSHTTPClients: Service {
    let clients: [HTTPClient]
    let transports: [KeptAliveTransport]

    init(_ clients: [HTTPClient], transports: [KeptAliveTransport] = []) {
        self.clients = clients
        self.transports = transports
    }

    /// The executor on which tasks that make calls through these clients should run (see
    /// ``EventLoopGroupTaskExecutor``); `nil` when they have no preference.
    public var taskExecutor: (any TaskExecutor)? { transports.first?.taskExecutor }

    public func run() async throws {
        try? await gracefulShutdown()
        try await shutdown()
    }

    /// For callers without a service group, such as tests.
    public func shutdown() async throws {
        for transport in transports {
            await transport.shutdown()
        }
        for client in clients {
            try await client.shutdown()
        }
    }
}
