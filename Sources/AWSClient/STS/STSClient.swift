#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The STS operations the credential chain needs, over the AWS query protocol (form-encoded request, XML response).
public struct STSClient: Sendable {
    public static let apiVersion = "2011-06-15"
    public static let signingName = "sts"
    /// Regions that `AWS_STS_REGIONAL_ENDPOINTS=legacy` sends to the global endpoint, as botocore lists them.
    public static let legacyGlobalRegions: Set<String> = [
        "ap-northeast-1", "ap-south-1", "ap-southeast-1", "ap-southeast-2", "aws-global", "ca-central-1",
        "eu-central-1", "eu-north-1", "eu-west-1", "eu-west-2", "eu-west-3", "sa-east-1", "us-east-1", "us-east-2",
        "us-west-1", "us-west-2",
    ]

    /// Each operation with the errors botocore's STS model (`sts/2011-06-15/service-2.json`) lists for it, by the
    /// codes they are sent with (the shapes' `error.code`), which are what errors are counted under.
    public static let assumeRole = AWSOperation(
        name: "AssumeRole",
        modeledErrors: [
            "MalformedPolicyDocument", "PackedPolicyTooLarge", "RegionDisabledException", "ExpiredTokenException",
        ],
        decode: { try credentials(in: try XMLDocumentParser.parse($0), result: "AssumeRoleResult") })
    public static let assumeRoleWithWebIdentity = AWSOperation(
        name: "AssumeRoleWithWebIdentity",
        modeledErrors: [
            "MalformedPolicyDocument", "PackedPolicyTooLarge", "IDPRejectedClaim", "IDPCommunicationError",
            "InvalidIdentityToken", "ExpiredTokenException", "RegionDisabledException",
        ],
        signed: false,
        decode: { try credentials(in: try XMLDocumentParser.parse($0), result: "AssumeRoleWithWebIdentityResult") })
    public static let getCallerIdentity = AWSOperation(
        name: "GetCallerIdentity", modeledErrors: [],
        decode: { bytes in
            let root = try XMLDocumentParser.parse(bytes)
            guard let result = root.child("GetCallerIdentityResult"), let account = result.text(of: "Account"),
                let arn = result.text(of: "Arn")
            else { throw AWSClientError.invalidResponse("GetCallerIdentityResult without Account and Arn") }
            return CallerIdentity(account: account, arn: arn, userID: result.text(of: "UserId"))
        })

    public let sender: AWSRequestSender

    public init(sender: AWSRequestSender) {
        self.sender = sender
    }

    /// The STS endpoint for `region`: `AWS_ENDPOINT_URL_STS`, else `AWS_ENDPOINT_URL`, else the profile's
    /// `endpoint_url`, else the regional endpoint (or the global one for `AWS_STS_REGIONAL_ENDPOINTS=legacy`).
    public static func endpoint(
        region: String,
        environment: [String: String],
        profileEndpointURL: String? = nil,
        variants: AWSEndpointVariants = AWSEndpointVariants()
    ) throws -> AWSServiceEndpoint {
        let modeText = environment["AWS_STS_REGIONAL_ENDPOINTS"].flatMap { $0.isEmpty ? nil : $0 } ?? "regional"
        let mode = modeText.lowercased()
        guard mode == "regional" || mode == "legacy" else {
            throw AWSConfigurationError(
                "AWS_STS_REGIONAL_ENDPOINTS: \"\(NetworkText.sanitized(modeText, limit: 64))\" is neither regional nor legacy"
            )
        }
        let candidates: [(String, String?)] = [
            ("AWS_ENDPOINT_URL_STS", environment["AWS_ENDPOINT_URL_STS"]),
            ("AWS_ENDPOINT_URL", environment["AWS_ENDPOINT_URL"]),
            ("endpoint_url in the profile", profileEndpointURL),
        ]
        if let (source, value) = candidates.first(where: { !($0.1 ?? "").isEmpty }), let text = value {
            if variants.useFIPS || variants.useDualStack {
                throw AWSConfigurationError(
                    "\(source) with \(variants.useFIPS ? variants.fipsSource : variants.dualStackSource): FIPS and "
                        + "dual-stack cannot apply to a custom STS endpoint")
            }
            return AWSServiceEndpoint(
                url: try AWSEndpointResolver.parseEndpointURL(text, source: source), region: region,
                signingName: signingName)
        }
        // The `aws-global` pseudo-region names the global endpoint, which signs for us-east-1.
        if region == "aws-global" && !variants.useFIPS && !variants.useDualStack {
            return AWSServiceEndpoint(
                url: URL(string: "https://sts.amazonaws.com")!, region: "us-east-1", signingName: signingName)
        }
        if variants.useFIPS || variants.useDualStack {
            let rules = AWSEndpointRules(prefix: "sts", fipsStandardHostPartitions: ["aws-us-gov"])
            let host = try rules.host(region: region, variants: variants)
            return AWSServiceEndpoint(url: URL(string: "https://\(host)")!, region: region, signingName: signingName)
        }
        if mode == "legacy" && legacyGlobalRegions.contains(region) {
            return AWSServiceEndpoint(
                url: URL(string: "https://sts.amazonaws.com")!, region: "us-east-1", signingName: signingName)
        }
        let url = URL(string: "https://sts.\(region).\(AWSEndpointResolver.dnsSuffix(forRegion: region))")!
        return AWSServiceEndpoint(url: url, region: region, signingName: signingName)
    }

    /// `AssumeRole`, signed with the sender's credentials.
    public func assumeRole(_ request: AssumeRoleRequest, deadline: MonotonicInstant) async throws -> AWSCredentials {
        var parameters = [("RoleArn", request.roleARN), ("RoleSessionName", request.roleSessionName)]
        if let externalID = request.externalID { parameters.append(("ExternalId", externalID)) }
        if let duration = request.durationSeconds { parameters.append(("DurationSeconds", String(duration))) }
        return try await call(Self.assumeRole, parameters, deadline: deadline)
    }

    /// `AssumeRoleWithWebIdentity`, which is sent unsigned: the token is the proof.
    public func assumeRoleWithWebIdentity(
        roleARN: String,
        roleSessionName: String,
        webIdentityToken: String,
        durationSeconds: Int? = nil,
        deadline: MonotonicInstant
    ) async throws -> AWSCredentials {
        var parameters = [
            ("RoleArn", roleARN), ("RoleSessionName", roleSessionName), ("WebIdentityToken", webIdentityToken),
        ]
        if let durationSeconds { parameters.append(("DurationSeconds", String(durationSeconds))) }
        return try await call(Self.assumeRoleWithWebIdentity, parameters, deadline: deadline)
    }

    /// `GetCallerIdentity`: the account and ARN the sender's credentials belong to.
    public func getCallerIdentity(deadline: MonotonicInstant) async throws -> CallerIdentity {
        try await call(Self.getCallerIdentity, [], deadline: deadline)
    }

    private func call<Output: Sendable>(
        _ operation: AWSOperation<Output>,
        _ parameters: [(String, String)],
        deadline: MonotonicInstant
    ) async throws -> Output {
        let body = AWSQueryProtocol.formBody(action: operation.name, version: Self.apiVersion, parameters: parameters)
        return try await sender.send(
            operation,
            request: AWSHTTPRequest(
                method: "POST", url: sender.endpoint.url,
                headers: [("Content-Type", AWSQueryProtocol.contentType)], body: body),
            deadline: deadline,
            parseError: AWSQueryProtocol.parseError)
    }

    static func credentials(in root: XMLElement, result: String) throws -> AWSCredentials {
        guard let credentials = root.descendant([result, "Credentials"]) else {
            throw AWSClientError.invalidResponse("\(result) without Credentials")
        }
        guard let keyID = credentials.text(of: "AccessKeyId"), let secret = credentials.text(of: "SecretAccessKey"),
            let token = credentials.text(of: "SessionToken")
        else {
            throw AWSClientError.invalidResponse("Credentials without AccessKeyId, SecretAccessKey or SessionToken")
        }
        guard let expirationText = credentials.text(of: "Expiration"),
            let expiration = UTCTimestamp.parseISO8601(expirationText)
        else { throw AWSClientError.invalidResponse("Credentials without a readable Expiration") }
        return AWSCredentials(accessKeyID: keyID, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}

/// The parameters of `AssumeRole`.
public struct AssumeRoleRequest: Sendable, Equatable {
    public var roleARN: String
    public var roleSessionName: String
    public var externalID: String?
    public var durationSeconds: Int?

    public init(roleARN: String, roleSessionName: String, externalID: String? = nil, durationSeconds: Int? = nil) {
        self.roleARN = roleARN
        self.roleSessionName = roleSessionName
        self.externalID = externalID
        self.durationSeconds = durationSeconds
    }
}

/// What `GetCallerIdentity` answers.
public struct CallerIdentity: Sendable, Equatable {
    public let account: String
    public let arn: String
    public let userID: String?
}

/// The AWS query protocol: `Action`, `Version` and parameters form-encoded in a POST body; errors as XML.
public enum AWSQueryProtocol {
    public static let contentType = "application/x-www-form-urlencoded; charset=utf-8"

    /// `Action=…&Version=…&Name=value…`, every name and value percent-encoded as SigV4 encodes query strings.
    public static func formBody(action: String, version: String, parameters: [(String, String)]) -> [UInt8] {
        let pairs = [("Action", action), ("Version", version)] + parameters
        let text = pairs.map { "\(URIEncoding.encode($0.0))=\(URIEncoding.encode($0.1))" }.joined(separator: "&")
        return Array(text.utf8)
    }

    /// The code of an `<ErrorResponse><Error><Code>` body (or the `<Errors><Error>` shape that EC2-style front
    /// ends and emulators send), else a name for the HTTP status.
    public static func parseError(_ response: AWSHTTPResponse) -> AWSServiceError {
        let root = try? XMLDocumentParser.parse(response.body)
        let error = root.flatMap { firstError(in: $0) }
        let code = error?.text(of: "Code").map(AWSJSONProtocol.normalizeErrorCode)
        return AWSServiceError(
            code: code ?? AWSJSONProtocol.statusCodeName(response.status),
            statusCode: response.status,
            message: error?.text(of: "Message"),
            requestID: root?.text(of: "RequestId") ?? root?.text(of: "RequestID")
                ?? response.header("x-amzn-requestid")
        )
    }

    private static func firstError(in element: XMLElement, depth: Int = 0) -> XMLElement? {
        if element.name == "Error", element.child("Code") != nil { return element }
        guard depth < 4 else { return nil }
        for child in element.children {
            if let found = firstError(in: child, depth: depth + 1) { return found }
        }
        return nil
    }
}
