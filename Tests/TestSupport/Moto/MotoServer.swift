import AWSClient
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A `moto_server` process on loopback with signature checking switched on after the setup calls.
///
/// moto lets the first `INITIAL_NO_AUTH_ACTION_COUNT` actions through unchecked; the fixture spends them on
/// creating an IAM user, its access key and a policy allowing `sso:ListInstances`, and from then on moto
/// verifies every SigV4 signature with its own signer.
public final class MotoServer: @unchecked Sendable {
    public let port: Int
    public let credentials: AWSCredentials
    /// A role that `credentials` may assume and whose sessions may call `sso:ListInstances`.
    public let roleARN: String
    /// Setup calls moto lets through before it starts checking signatures.
    static let setupActions = 5
    private let process: Process
    public static let region = "us-east-1"

    public var endpoint: String { "http://127.0.0.1:\(port)" }

    /// Starts moto; `unauthenticatedActions` more calls after setup go unchecked (moto cannot take an unsigned
    /// `AssumeRoleWithWebIdentity` once checking is on).
    public static func start(unauthenticatedActions: Int = 0) async throws -> MotoServer {
        guard let executable = ExternalTools.path("moto_server") else {
            throw MotoError("moto_server is not on PATH (pip install 'moto[server]')")
        }
        let port = try ExternalTools.freeLoopbackPort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["-H", "127.0.0.1", "-p", String(port)]
        var environment = ProcessInfo.processInfo.environment
        environment["INITIAL_NO_AUTH_ACTION_COUNT"] = String(setupActions + unauthenticatedActions)
        process.environment = environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let client = HTTPClient(eventLoopGroupProvider: .singleton)
        do {
            try await waitUntilReady(client: client, port: port)
            let (credentials, roleARN) = try await createListInstancesPrincipals(client: client, port: port)
            try await client.shutdown()
            return MotoServer(port: port, credentials: credentials, roleARN: roleARN, process: process)
        } catch {
            kill(process.processIdentifier, SIGKILL)
            try? await client.shutdown()
            throw error
        }
    }

    private init(port: Int, credentials: AWSCredentials, roleARN: String, process: Process) {
        self.port = port
        self.credentials = credentials
        self.roleARN = roleARN
        self.process = process
    }

    /// SIGKILL, not SIGTERM: the test runner's threads block SIGTERM and a spawned child inherits that mask.
    public func stop() {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    deinit { stop() }

    static func waitUntilReady(client: HTTPClient, port: Int) async throws {
        for _ in 0..<150 {
            var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/moto-api/")
            request.method = .GET
            if let response = try? await client.execute(request, timeout: .seconds(1)), response.status == .ok {
                return
            }
            try await Task.sleep(for: .milliseconds(100))
        }
        throw MotoError("moto_server did not answer on port \(port) within 15 s")
    }

    /// The five unchecked IAM calls, signed with throwaway keys (moto reads the service from the scope): a user
    /// with a key that may list instances and assume the role, and the role, which may list instances.
    static func createListInstancesPrincipals(
        client: HTTPClient,
        port: Int
    ) async throws -> (AWSCredentials, String) {
        let user = "sso-admin-exporter"
        let role = "sso-admin-exporter-role"
        let userPolicy =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","#
            + #""Action":["sso:ListInstances","sts:AssumeRole"],"Resource":"*"}]}"#
        let rolePolicy =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sso:ListInstances","Resource":"*"}]}"#
        let trust =
            #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","#
            + #""Principal":{"AWS":"*"},"Action":["sts:AssumeRole","sts:AssumeRoleWithWebIdentity"]}]}"#
        _ = try await iam(client: client, port: port, ["Action": "CreateUser", "UserName": user])
        let keyXML = try await iam(client: client, port: port, ["Action": "CreateAccessKey", "UserName": user])
        _ = try await iam(
            client: client, port: port,
            ["Action": "PutUserPolicy", "UserName": user, "PolicyName": "list-instances", "PolicyDocument": userPolicy]
        )
        let roleXML = try await iam(
            client: client, port: port,
            ["Action": "CreateRole", "RoleName": role, "AssumeRolePolicyDocument": trust])
        _ = try await iam(
            client: client, port: port,
            ["Action": "PutRolePolicy", "RoleName": role, "PolicyName": "list-instances", "PolicyDocument": rolePolicy]
        )
        guard let keyID = element("AccessKeyId", in: keyXML), let secret = element("SecretAccessKey", in: keyXML)
        else { throw MotoError("CreateAccessKey answer had no key: \(keyXML.prefix(200))") }
        guard let roleARN = element("Arn", in: roleXML) else {
            throw MotoError("CreateRole answer had no Arn: \(roleXML.prefix(200))")
        }
        return (AWSCredentials(accessKeyID: keyID, secretAccessKey: secret), roleARN)
    }

    static func iam(client: HTTPClient, port: Int, _ parameters: [String: String]) async throws -> String {
        let body = URIEncoding.formEncode(
            (parameters.merging(["Version": "2010-05-08"]) { a, _ in a }).sorted { $0.key < $1.key })
        var signable = SigV4Request(
            method: "POST",
            path: "/",
            headers: [("Host", "127.0.0.1:\(port)"), ("Content-Type", "application/x-www-form-urlencoded")],
            body: Array(body.utf8)
        )
        SigV4Signer(
            credentials: AWSCredentials(accessKeyID: "AKIASETUPSETUPSETUP0", secretAccessKey: "setup"),
            region: region,
            service: "iam"
        ).sign(&signable, date: Date())
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/")
        request.method = .POST
        for (name, value) in signable.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(string: body))
        let response = try await client.execute(request, timeout: .seconds(10))
        let text = String(buffer: try await response.body.collect(upTo: 1 << 20))
        guard response.status == .ok else {
            throw MotoError(
                "IAM \(parameters["Action"] ?? "") failed: HTTP \(response.status.code) \(text.prefix(300))")
        }
        return text
    }

    static func element(_ name: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(name)>"),
            let close = xml.range(of: "</\(name)>", range: open.upperBound..<xml.endIndex)
        else { return nil }
        return String(xml[open.upperBound..<close.lowerBound])
    }
}

public struct MotoError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

extension ExternalTools {
    /// A loopback port that was free a moment ago, for programs that must be told their port up front.
    public static func freeLoopbackPort() throws -> Int {
        let channel = try ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .bind(host: "127.0.0.1", port: 0).wait()
        let port = channel.localAddress?.port ?? 0
        try channel.close().wait()
        return port
    }
}
