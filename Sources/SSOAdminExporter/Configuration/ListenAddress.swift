/// `--web.listen-address` in Go's `host:port` form: `:10711`, `127.0.0.1:10711`, `[::1]:10711`.
package struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    package let host: String
    package let port: Int

    package init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses the flag value; an empty host means every IPv4 interface.
    package init(parsing text: String) throws {
        guard let colon = text.lastIndex(of: ":") else {
            throw ExporterConfigurationError("--web.listen-address: \"\(text)\" is not host:port (for example :10711)")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ExporterConfigurationError("--web.listen-address: \"\(portText)\" is not a port number 0-65535")
        }
        if host.hasPrefix("[") {
            guard host.hasSuffix("]"), host.count > 2 else {
                throw ExporterConfigurationError("--web.listen-address: \"\(text)\" has an unclosed [ in the host")
            }
            host = String(host.dropFirst().dropLast())
        } else if host.contains(":") {
            throw ExporterConfigurationError("--web.listen-address: write IPv6 hosts in brackets, as [::1]:10711")
        }
        self.init(host: host.isEmpty ? "0.0.0.0" : host, port: port)
    }

    package var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }
}
