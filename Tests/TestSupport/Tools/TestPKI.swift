import Foundation
import Testing

/// Certificates made with openssl for one test: a CA, a server certificate for localhost and 127.0.0.1, a client
/// certificate the CA signed, and one it did not.
public struct TestPKI: Sendable {
    public let directory: URL

    /// Makes the certificates; openssl runs off the test threads.
    public static func make() async throws -> TestPKI {
        let pki = TestPKI(
            directory: FileManager.default.temporaryDirectory.appendingPathComponent(
                "sso-admin-pki-\(UUID().uuidString)"))
        try FileManager.default.createDirectory(at: pki.directory, withIntermediateDirectories: true)
        try await pki.makeCA("ca", subject: "/CN=sso-admin-exporter test CA")
        try await pki.makeCA("other-ca", subject: "/CN=someone else's CA")
        try await pki.issue("server", by: "ca", subject: "/CN=localhost", extensions: serverExtensions)
        try await pki.issue(
            "client", by: "ca", subject: "/CN=prometheus",
            extensions: "subjectAltName=DNS:prometheus.example\nextendedKeyUsage=clientAuth")
        try await pki.issue(
            "stranger", by: "ca", subject: "/CN=stranger",
            extensions: "subjectAltName=DNS:stranger.example\nextendedKeyUsage=clientAuth")
        try await pki.issue(
            "untrusted", by: "other-ca", subject: "/CN=prometheus",
            extensions: "subjectAltName=DNS:prometheus.example\nextendedKeyUsage=clientAuth")
        return pki
    }

    public static let serverExtensions = "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth"

    public func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    public func remove() { try? FileManager.default.removeItem(at: directory) }

    private func openssl(_ arguments: [String]) async throws {
        let (status, output) = try await ExternalTools.runDetached(
            try #require(ExternalTools.path("openssl")), arguments)
        try #require(status == 0, "openssl \(arguments.joined(separator: " ")): \(output)")
    }

    private func makeCA(_ name: String, subject: String) async throws {
        try await openssl([
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-subj", subject,
        ])
    }

    /// A key and a certificate signed by `ca`; a new call with the same name makes a new key and serial (rotation).
    public func issue(_ name: String, by ca: String, subject: String, extensions: String) async throws {
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try await openssl([
            "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", path("\(name).key"),
            "-out", path("\(name).csr"), "-subj", subject,
        ])
        try await openssl([
            "x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
            "-set_serial", String(UInt32.random(in: 1...UInt32.max)), "-days", "2", "-out", path("\(name).pem"),
            "-extfile", path("\(name).ext"),
        ])
    }

    /// The serial number of a certificate file, as openssl prints it.
    public func serial(_ name: String) async throws -> String {
        let (_, output) = try await ExternalTools.runDetached(
            try #require(ExternalTools.path("openssl")), ["x509", "-noout", "-serial", "-in", path("\(name).pem")])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
