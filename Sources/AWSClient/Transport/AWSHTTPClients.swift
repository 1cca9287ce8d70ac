import AsyncHTTPClient

/// The HTTP clients behind an ``AWSClient``'s transport, which that client closes.
struct AWSHTTPClients: Sendable {
    let clients: [HTTPClient]
    let transports: [KeptAliveTransport]

    init(_ clients: [HTTPClient], transports: [KeptAliveTransport] = []) {
        self.clients = clients
        self.transports = transports
    }

    /// The executor on which tasks that make calls through these clients should run (see
    /// ``EventLoopGroupTaskExecutor``); `nil` when they have no preference.
    var taskExecutor: (any TaskExecutor)? { transports.first?.taskExecutor }

    func shutdown() async throws {
        for transport in transports {
            await transport.shutdown()
        }
        for client in clients {
            try await client.shutdown()
        }
    }
}
