import Foundation
import Synchronization

/// `EncryptionConfigurationDetails` as `DescribeInstance` sends it (botocore's sso-admin model); `nil` members are
/// left out.
public struct FakeEncryption: Sendable {
    public var keyType: String?
    public var kmsKeyArn: String?
    public var status: String?
    public var statusReason: String?

    public init(
        keyType: String? = "AWS_OWNED_KMS_KEY", kmsKeyArn: String? = nil, status: String? = "ENABLED",
        statusReason: String? = nil
    ) {
        self.keyType = keyType
        self.kmsKeyArn = kmsKeyArn
        self.status = status
        self.statusReason = statusReason
    }

    /// A customer-managed key in `status`.
    public static func customerManaged(
        _ status: String, reason: String? = nil,
        key: String = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    ) -> FakeEncryption {
        FakeEncryption(keyType: "CUSTOMER_MANAGED_KEY", kmsKeyArn: key, status: status, statusReason: reason)
    }
}

/// One `RegionMetadata` of sso-admin's `ListRegions`.
public struct FakeRegion: Sendable {
    public var name: String
    public var status: String?
    public var addedDate: Double?
    public var isPrimary: Bool?

    public init(
        _ name: String, status: String? = "ACTIVE", addedDate: Double? = 1_700_000_000, isPrimary: Bool? = false
    ) {
        self.name = name
        self.status = status
        self.addedDate = addedDate
        self.isPrimary = isPrimary
    }
}

/// An instance as the fake service stores it; `nil` fields are sent as JSON null or left out.
public struct FakeInstance: Sendable {
    public var instanceArn: String
    public var identityStoreId: String?
    public var ownerAccountId: String?
    public var name: String?
    public var createdDate: Double?
    public var status: String?
    public var statusReason: String?
    /// What `DescribeInstance` sends as `EncryptionConfigurationDetails`; `nil` leaves the member out.
    public var encryption: FakeEncryption?
    /// What `ListRegions` lists; `nil` lists the fake's own Region as the primary one, added at creation.
    public var regions: [FakeRegion]?

    public init(
        instanceArn: String,
        identityStoreId: String? = "d-1234567890",
        ownerAccountId: String? = "123456789012",
        name: String? = nil,
        createdDate: Double? = 1_700_000_000.25,
        status: String? = "ACTIVE",
        statusReason: String? = nil,
        encryption: FakeEncryption? = FakeEncryption(),
        regions: [FakeRegion]? = nil
    ) {
        self.instanceArn = instanceArn
        self.identityStoreId = identityStoreId
        self.ownerAccountId = ownerAccountId
        self.name = name
        self.createdDate = createdDate
        self.status = status
        self.statusReason = statusReason
        self.encryption = encryption
        self.regions = regions
    }

    /// `count` ACTIVE instances with distinct, model-conformant ARNs (`ssoins-` and 16 characters). The first is
    /// the caller's own (`123456789012`, the fake STS account); the others belong to other accounts, as the instances
    /// an account sees but cannot describe.
    public static func numbered(_ count: Int) -> [FakeInstance] {
        (0..<count).map { index in
            let suffix = String(format: "%016x", index)
            return FakeInstance(
                instanceArn: "arn:aws:sso:::instance/ssoins-\(suffix)",
                identityStoreId: "d-\(String(format: "%010x", index))",
                ownerAccountId: index == 0 ? "123456789012" : String(format: "2%011d", index),
                name: "instance-\(index)",
                createdDate: 1_700_000_000 + Double(index)
            )
        }
    }
}

/// A fault the fake injects in place of the next answer.
public enum FakeFault: Sendable {
    /// An error as the JSON protocol sends it; the code goes in `__type` or, if `inHeader`, `X-Amzn-ErrorType`.
    case serviceError(code: String, status: Int, inHeader: Bool = false)
    case malformedJSON
    /// A 503 with an HTML body, as a load balancer in front of the service would send.
    case nonJSON503
    case connectionReset
    case hang
    /// Status and headers, then part of the promised body, then nothing.
    case stalledBody
    /// A ValidationException whose message quotes every request header, as a misconfigured proxy might.
    case echoHeaders
    /// A ValidationException with a message of this many bytes.
    case hugeMessage(bytes: Int)
    /// A good page whose NextToken is this many bytes, different each time.
    case hugeToken(bytes: Int)
}

/// A fake `ListInstances` that follows the sso-admin service model (botocore's service-2.json):
/// `awsJson1_1` on `POST /`, `MaxResults` 1..100, at most 10 instances a page, opaque `NextToken`s,
/// and the model's error shapes. It checks what it can of each request and answers `ValidationException`
/// or `UnknownOperationException` as the real service would.
public final class FakeSSOAdminService: Sendable {
    public static let modelPageLimit = 10

    public struct RecordedRequest: Sendable {
        public let target: String?
        public let authorization: String?
        public let maxResults: Int?
        public let nextToken: String?
        public let userAgent: String?
        public let securityToken: String?
    }

    struct State {
        var instances: [FakeInstance]
        var faults: [FakeFault] = []
        var requests: [RecordedRequest] = []
        var detailFaults: [FakeFault] = []
        var detailRequests: [RecordedRequest] = []
        var repeatRegionTokens = false
        var repeatTokens = false
        var responseDelay: Duration = .zero
        var region: String
    }

    private let state: Mutex<State>
    /// The account the caller is taken to be: `DescribeInstance` and `ListRegions` refuse an instance it does not own.
    public let callerAccount: String

    public init(instances: [FakeInstance], region: String = "us-east-1", callerAccount: String = "123456789012") {
        state = Mutex(State(instances: instances, region: region))
        self.callerAccount = callerAccount
    }

    /// Faults for the next `ListInstances` requests, in order; once used up, requests are answered normally again.
    public func inject(_ faults: [FakeFault]) {
        state.withLock { $0.faults.append(contentsOf: faults) }
    }

    /// Faults for the next `DescribeInstance` and `ListRegions` requests, in order.
    public func injectDetails(_ faults: [FakeFault]) {
        state.withLock { $0.detailFaults.append(contentsOf: faults) }
    }

    /// Makes every `ListRegions` page hand back the same `NextToken`.
    public func setRepeatRegionTokens(_ value: Bool) {
        state.withLock { $0.repeatRegionTokens = value }
    }

    /// The `DescribeInstance` and `ListRegions` requests, in order (``requests`` holds `ListInstances`').
    public var detailRequests: [RecordedRequest] { state.withLock { $0.detailRequests } }

    /// Makes every page hand back the same `NextToken` (a broken paginator on the service side).
    public func setRepeatTokens(_ value: Bool) {
        state.withLock { $0.repeatTokens = value }
    }

    /// Holds every answer back this long (real time), to keep a collection in flight.
    public func setResponseDelay(_ delay: Duration) {
        state.withLock { $0.responseDelay = delay }
    }

    public func setInstances(_ instances: [FakeInstance]) {
        state.withLock { $0.instances = instances }
    }

    public var requests: [RecordedRequest] { state.withLock { $0.requests } }

    public func handle(_ request: FakeHTTPRequest) async -> FakeHTTPAction {
        let body = (try? JSONSerialization.jsonObject(with: Data(request.body))) as? [String: Any]
        let maxResults = body?["MaxResults"] as? Int
        let nextToken = body?["NextToken"] as? String
        let operation = request.header("X-Amz-Target")
        if operation == "SWBExternalService.DescribeInstance" || operation == "SWBExternalService.ListRegions" {
            return await handleDetails(request, body: body)
        }
        let (fault, repeatTokens, instances, region, delay) = state.withLock { state in
            state.requests.append(
                RecordedRequest(
                    target: request.header("X-Amz-Target"),
                    authorization: request.header("Authorization"),
                    maxResults: maxResults,
                    nextToken: nextToken,
                    userAgent: request.header("User-Agent"),
                    securityToken: request.header("X-Amz-Security-Token")
                )
            )
            let fault = state.faults.isEmpty ? nil : state.faults.removeFirst()
            return (fault, state.repeatTokens, state.instances, state.region, state.responseDelay)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        if let fault {
            switch fault {
            case .echoHeaders:
                let quoted = request.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
                return Self.error("ValidationException", status: 400, message: "request was:\n\(quoted)")
            case .hugeToken(let bytes):
                let token =
                    String(repeating: "x", count: bytes - 8) + String(format: "%08d", Int.random(in: 0..<99_999_999))
                let data =
                    (try? JSONSerialization.data(withJSONObject: ["Instances": [], "NextToken": token])) ?? Data()
                return .respond(
                    status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")], body: Array(data))
            default:
                return Self.action(for: fault)
            }
        }
        guard request.method == "POST", request.uri == "/" else {
            return Self.error("UnknownOperationException", status: 404, message: "no route \(request.uri)")
        }
        guard request.header("X-Amz-Target") == "SWBExternalService.ListInstances" else {
            return Self.error("UnknownOperationException", status: 400, message: "unknown target")
        }
        guard request.header("Content-Type") == "application/x-amz-json-1.1" else {
            return Self.error("SerializationException", status: 400, message: "wrong content type")
        }
        guard let authorization = request.header("Authorization"),
            authorization.hasPrefix("AWS4-HMAC-SHA256 Credential="),
            authorization.contains("/\(region)/sso/aws4_request"),
            request.header("X-Amz-Date") != nil
        else {
            return Self.error("MissingAuthenticationTokenException", status: 403, message: "not signed for sso")
        }
        guard let body else {
            return Self.error("SerializationException", status: 400, message: "body is not a JSON object")
        }
        if body["MaxResults"] != nil {
            guard let maxResults, (1...100).contains(maxResults) else {
                return Self.error("ValidationException", status: 400, message: "MaxResults must be 1..100")
            }
        }
        var offset = 0
        // A token from `.hugeToken` continues from the start, as if the service had restarted its listing.
        if let nextToken, !nextToken.hasPrefix("xxxxxxxx") {
            guard nextToken.hasPrefix("tok-"), let value = Int(nextToken.dropFirst(4)), value <= instances.count
            else {
                return Self.error("ValidationException", status: 400, message: "invalid NextToken")
            }
            offset = value
        }
        let pageSize = min(maxResults ?? Self.modelPageLimit, Self.modelPageLimit)
        let page = instances[offset..<min(offset + pageSize, instances.count)]
        var response: [String: Any] = ["Instances": page.map(Self.json)]
        let nextOffset = offset + page.count
        if repeatTokens {
            response["NextToken"] = "tok-0"
        } else if nextOffset < instances.count {
            response["NextToken"] = "tok-\(nextOffset)"
        }
        let data = (try? JSONSerialization.data(withJSONObject: response)) ?? Data()
        return .respond(
            status: 200,
            headers: [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", "fake-request")],
            body: Array(data)
        )
    }

    /// `DescribeInstance` and `ListRegions`: signed for sso in the fake's Region, `InstanceArn` required, an
    /// instance the caller does not own refused with `AccessDeniedException` (the model lists four errors:
    /// throttling, internal, access denied, validation).
    func handleDetails(_ request: FakeHTTPRequest, body: [String: Any]?) async -> FakeHTTPAction {
        let operation = request.header("X-Amz-Target") ?? ""
        let (fault, instances, region, repeatTokens, delay) = state.withLock { state in
            state.detailRequests.append(
                RecordedRequest(
                    target: operation, authorization: request.header("Authorization"),
                    maxResults: body?["MaxResults"] as? Int, nextToken: body?["NextToken"] as? String,
                    userAgent: request.header("User-Agent"), securityToken: request.header("X-Amz-Security-Token")))
            let fault = state.detailFaults.isEmpty ? nil : state.detailFaults.removeFirst()
            return (fault, state.instances, state.region, state.repeatRegionTokens, state.responseDelay)
        }
        if delay > .zero { try? await Task.sleep(for: delay) }
        if let fault { return Self.action(for: fault) }
        guard let authorization = request.header("Authorization"),
            authorization.contains("/\(region)/sso/aws4_request")
        else {
            return Self.error("MissingAuthenticationTokenException", status: 403, message: "not signed for sso")
        }
        guard let body, let arn = body["InstanceArn"] as? String, (10...1224).contains(arn.utf8.count) else {
            return Self.error("ValidationException", status: 400, message: "InstanceArn is required")
        }
        guard let instance = instances.first(where: { $0.instanceArn == arn }), instance.ownerAccountId == callerAccount
        else {
            return Self.error("AccessDeniedException", status: 400, message: "User is not authorized")
        }
        var response: [String: Any] = [:]
        if operation.hasSuffix(".DescribeInstance") {
            response = Self.describeJSON(instance)
        } else {
            let maxResults = body["MaxResults"] as? Int ?? 100
            guard (1...100).contains(maxResults) else {
                return Self.error("ValidationException", status: 400, message: "MaxResults must be 1..100")
            }
            let regions =
                instance.regions ?? [FakeRegion(region, addedDate: instance.createdDate, isPrimary: true)]
            var offset = 0
            if let token = body["NextToken"] as? String {
                guard token.hasPrefix("rtok-"), let value = Int(token.dropFirst(5)), value <= regions.count else {
                    return Self.error("ValidationException", status: 400, message: "invalid NextToken")
                }
                offset = value
            }
            let page = regions[offset..<min(offset + maxResults, regions.count)]
            response["Regions"] = page.map(Self.json)
            if repeatTokens {
                response["NextToken"] = "rtok-0"
            } else if offset + page.count < regions.count {
                response["NextToken"] = "rtok-\(offset + page.count)"
            }
        }
        let data = (try? JSONSerialization.data(withJSONObject: response)) ?? Data()
        return .respond(status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")], body: Array(data))
    }

    /// `DescribeInstanceResponse`: the instance's members and its `EncryptionConfigurationDetails`.
    public static func describeJSON(_ instance: FakeInstance) -> [String: Any] {
        var response = json(instance)
        if let encryption = instance.encryption {
            var details: [String: Any] = [:]
            details["KeyType"] = encryption.keyType
            details["KmsKeyArn"] = encryption.kmsKeyArn
            details["EncryptionStatus"] = encryption.status
            details["EncryptionStatusReason"] = encryption.statusReason
            response["EncryptionConfigurationDetails"] = details
        }
        return response
    }

    /// One `RegionMetadata`.
    public static func json(_ region: FakeRegion) -> [String: Any] {
        var object: [String: Any] = ["RegionName": region.name]
        object["Status"] = region.status
        object["AddedDate"] = region.addedDate
        object["IsPrimaryRegion"] = region.isPrimary
        return object
    }

    static func json(_ instance: FakeInstance) -> [String: Any] {
        var object: [String: Any] = ["InstanceArn": instance.instanceArn]
        object["IdentityStoreId"] = instance.identityStoreId
        object["OwnerAccountId"] = instance.ownerAccountId
        object["Name"] = instance.name ?? NSNull()
        object["CreatedDate"] = instance.createdDate
        object["Status"] = instance.status
        object["StatusReason"] = instance.statusReason
        return object
    }

    static func error(_ code: String, status: Int, message: String, inHeader: Bool = false) -> FakeHTTPAction {
        var headers: [(String, String)] = [("Content-Type", "application/x-amz-json-1.1")]
        var object: [String: Any] = ["message": message]
        if inHeader {
            headers.append(("X-Amzn-ErrorType", "\(code):http://internal.amazon.com/coral/com.amazon.sso/"))
        } else {
            object["__type"] = "com.amazon.sso#\(code)"
        }
        let data = (try? JSONSerialization.data(withJSONObject: object)) ?? Data()
        return .respond(status: status, headers: headers, body: Array(data))
    }

    static func action(for fault: FakeFault) -> FakeHTTPAction {
        switch fault {
        case .serviceError(let code, let status, let inHeader):
            return error(code, status: status, message: "injected \(code)", inHeader: inHeader)
        case .malformedJSON:
            return .respond(
                status: 200,
                headers: [("Content-Type", "application/x-amz-json-1.1")],
                body: Array("{\"Instances\": [{\"InstanceArn\": ".utf8)
            )
        case .nonJSON503:
            return .respond(
                status: 503,
                headers: [("Content-Type", "text/html")],
                body: Array("<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>".utf8)
            )
        case .connectionReset:
            return .closeConnection
        case .hang:
            return .hang
        case .stalledBody:
            return .stallBody(
                status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")],
                promisedBytes: 1000, sent: Array("{\"Instances\": [".utf8))
        case .hugeMessage(let bytes):
            return error("ValidationException", status: 400, message: String(repeating: "m", count: bytes))
        case .echoHeaders, .hugeToken:
            // Answered in handle(_:), which has the request.
            return .closeConnection
        }
    }
}
