import AWSClient
import Foundation
import Synchronization

/// A whole AWS organization on one loopback port, for tests, benchmarks and the demo: STS (`AssumeRole`,
/// `GetCallerIdentity`), Organizations (`ListAccounts`, `DescribeOrganization`), Account (`ListRegions`) and
/// sso-admin (`ListInstances`) per account and region, shaped as botocore's service models have them.
///
/// Every request must carry a valid SigV4 signature. The caller's identity is the management account's keys
/// (``managementCredentials``) until it assumes a role; the credentials `AssumeRole` issues belong to the role's
/// account and are what sign that account's calls, so an exporter that mixes them up gets `AccessDeniedException`.
public final class OrganizationSimulator: Sendable {
    /// One simulated member account and what it does to callers.
    public struct Account: Sendable {
        public var id: String
        public var name: String
        /// `ACTIVE`, `SUSPENDED` or `PENDING_CLOSURE`, as `ListAccounts` reports it.
        public var state: String
        /// Regions the account has enabled, for `ListRegions`; instances live in these.
        public var enabledRegions: [String]
        /// Account instances per region (the organization instance is added in the management account).
        public var instances: [String: [FakeInstance]]
        public var faults: Faults

        public init(
            id: String, name: String, state: String = "ACTIVE", enabledRegions: [String],
            instances: [String: [FakeInstance]] = [:], faults: Faults = Faults()
        ) {
            self.id = id
            self.name = name
            self.state = state
            self.enabledRegions = enabledRegions
            self.instances = instances
            self.faults = faults
        }
    }

    /// What an account's calls suffer.
    public struct Faults: Sendable {
        /// `AssumeRole` into the account is refused.
        public var denyAssumeRole = false
        /// Every sso-admin call is answered with `ThrottlingException`.
        public var throttle = false
        /// sso-admin calls are never answered.
        public var hang = false

        public init(denyAssumeRole: Bool = false, throttle: Bool = false, hang: Bool = false) {
            self.denyAssumeRole = denyAssumeRole
            self.throttle = throttle
            self.hang = hang
        }
    }

    public static let organizationID = "o-simulated01"
    public let managementAccountID: String
    public let managementCredentials = AWSCredentials(
        accessKeyID: "AKIASIMULATEDMGMT001", secretAccessKey: "simulated-management-secret")
    /// Added to every answer, as the network and the service would.
    public let latency: Duration
    private let accounts: [String: Account]
    private let order: [String]
    private let state = Mutex(State())

    private struct State {
        var calls: [String: Int] = [:]
        var assumeRoles: [String: Int] = [:]
        var issued: [String: (account: String, secret: String, token: String)] = [:]
        var nextKey = 0
        /// Faults set while running, in place of the account's own.
        var faults: [String: Faults] = [:]
        var organizationsFailing = false
        var overrides: [String: Override] = [:]
    }

    /// Answers a test shapes itself for one operation, after the signature is checked: the request and the calling
    /// account in, the answer out, or `nil` for the simulator's own.
    public typealias Override = @Sendable (_ request: FakeHTTPRequest, _ caller: String) async -> FakeHTTPAction?

    /// Answers `operation` (`ListAccounts`, `ListRegions`, `DescribeOrganization`) with `override` from now on.
    public func override(_ operation: String, with override: @escaping Override) {
        state.withLock { $0.overrides[operation] = override }
    }

    /// Makes every Organizations call fail with `ServiceException` (or answer again).
    public func setOrganizationsFailing(_ failing: Bool) {
        state.withLock { $0.organizationsFailing = failing }
    }

    /// Changes what `account`'s calls suffer from now on.
    public func setFaults(_ faults: Faults, for account: String) {
        state.withLock { $0.faults[account] = faults }
    }

    private func faults(of account: Account) -> Faults {
        state.withLock { $0.faults[account.id] } ?? account.faults
    }

    public init(managementAccountID: String, accounts: [Account], latency: Duration = .zero) {
        self.managementAccountID = managementAccountID
        self.accounts = Dictionary(accounts.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        self.order = accounts.map(\.id)
        self.latency = latency
    }

    /// `count` accounts (the first is the management account) in `regions`: the management account holds the
    /// organization instance (ACTIVE) in the first region; every fifth member an account instance, every twentieth
    /// of them CREATE_FAILED with a reason.
    public static func generated(
        accounts count: Int, regions: [String], latency: Duration = .zero,
        faults: [Int: Faults] = [:], enabledRegions: [Int: [String]] = [:], states: [Int: String] = [:]
    ) -> OrganizationSimulator {
        var accounts: [Account] = []
        for index in 0..<count {
            let id = String(100_000_000_000 + index)
            var instances: [String: [FakeInstance]] = [:]
            if index == 0 {
                instances[regions[0]] = [
                    FakeInstance(
                        instanceArn: "arn:aws:sso:::instance/ssoins-\(String(format: "%016x", index))",
                        identityStoreId: "d-\(String(format: "%010x", index))", ownerAccountId: id,
                        name: "organization", createdDate: 1_600_000_000, status: "ACTIVE")
                ]
            } else if index % 5 == 0 {
                let failed = index % 20 == 0
                instances[regions[index % regions.count]] = [
                    FakeInstance(
                        instanceArn: "arn:aws:sso:::instance/ssoins-\(String(format: "%016x", index))",
                        identityStoreId: "d-\(String(format: "%010x", index))", ownerAccountId: id,
                        name: "account-\(index)", createdDate: 1_700_000_000 + Double(index),
                        status: failed ? "CREATE_FAILED" : "ACTIVE",
                        statusReason: failed ? "simulated failure in account \(id)" : nil)
                ]
            }
            accounts.append(
                Account(
                    id: id, name: "account-\(index)", state: states[index] ?? "ACTIVE",
                    enabledRegions: enabledRegions[index] ?? regions, instances: instances,
                    faults: faults[index] ?? Faults()))
        }
        return OrganizationSimulator(managementAccountID: accounts[0].id, accounts: accounts, latency: latency)
    }

    /// Calls answered, by `Operation` or `Operation/account`.
    public func calls(_ key: String) -> Int { state.withLock { $0.calls[key, default: 0] } }

    /// `AssumeRole` calls that issued credentials for `account`.
    public func assumeRoles(into account: String) -> Int { state.withLock { $0.assumeRoles[account, default: 0] } }

    public func handle(_ request: FakeHTTPRequest) async -> FakeHTTPAction {
        if latency > .zero { try? await Task.sleep(for: latency) }
        guard request.method == "POST" else { return Self.jsonError("UnknownOperationException", 404, "POST only") }
        let caller: String
        switch verify(request) {
        case .failure(let reason):
            return FakeSTSService.isQueryProtocol(request)
                ? Self.queryError("SignatureDoesNotMatch", 403, reason)
                : Self.jsonError("InvalidSignatureException", 403, reason)
        case .success(let account):
            caller = account
        }
        if FakeSTSService.isQueryProtocol(request) { return sts(request, caller: caller) }
        // sso-admin's ListRegions is another operation than Account's, counted and overridden apart.
        let operation =
            request.uri == "/listRegions"
            ? "ListRegions"
            : request.header("X-Amz-Target") == "SWBExternalService.ListRegions"
                ? Self.instanceRegionsOperation
                : String(request.header("X-Amz-Target")?.split(separator: ".").last ?? "")
        if let override = state.withLock({ $0.overrides[operation] }) {
            count(operation, caller)
            if let action = await override(request, caller) { return action }
        }
        if request.uri == "/listRegions" { return listRegions(request, caller: caller) }
        switch request.header("X-Amz-Target") {
        case "SWBExternalService.ListInstances": return await listInstances(request, caller: caller)
        case "SWBExternalService.DescribeInstance", "SWBExternalService.ListRegions":
            return instanceDetails(request, caller: caller, operation: operation)
        case "AWSOrganizationsV20161128.ListAccounts" where state.withLock({ $0.organizationsFailing }):
            return Self.jsonError("ServiceException", 500, "simulated outage")
        case "AWSOrganizationsV20161128.ListAccounts": return listAccounts(request, caller: caller)
        case "AWSOrganizationsV20161128.DescribeOrganization": return describeOrganization(caller: caller)
        default: return Self.jsonError("UnknownOperationException", 400, "unknown operation")
        }
    }

    // MARK: Signatures

    private enum Verification {
        case success(String)
        case failure(String)
    }

    /// Recomputes the signature with the secret of the access key in `Authorization`; the account is the key's.
    private func verify(_ request: FakeHTTPRequest) -> Verification {
        guard let authorization = request.header("Authorization"), authorization.hasPrefix("AWS4-HMAC-SHA256 "),
            let date = request.header("X-Amz-Date")
        else { return .failure("the request is not signed") }
        var fields: [String: String] = [:]
        for part in authorization.dropFirst("AWS4-HMAC-SHA256 ".count).split(separator: ",") {
            let pair = part.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            if pair.count == 2 { fields[String(pair[0])] = String(pair[1]) }
        }
        let scope = (fields["Credential"] ?? "").split(separator: "/").map(String.init)
        guard scope.count == 5, let signedHeaders = fields["SignedHeaders"], let signature = fields["Signature"],
            let signedAt = Self.parseAmzDate(date)
        else { return .failure("malformed Authorization") }
        let keyID = scope[0]
        let credentials: AWSCredentials
        let account: String
        if keyID == managementCredentials.accessKeyID {
            credentials = managementCredentials
            account = managementAccountID
        } else if let issued = state.withLock({ $0.issued[keyID] }) {
            credentials = AWSCredentials(
                accessKeyID: keyID, secretAccessKey: issued.secret, sessionToken: issued.token)
            account = issued.account
            guard request.header("X-Amz-Security-Token") == issued.token else {
                return .failure("the security token does not match the access key")
            }
        } else {
            return .failure("the access key \(keyID) does not exist")
        }
        let names = Set(signedHeaders.split(separator: ";").map { $0.lowercased() })
        let path = String(request.uri.split(separator: "?", maxSplits: 1).first ?? "/")
        let query = request.uri.contains("?") ? String(request.uri.split(separator: "?", maxSplits: 1)[1]) : ""
        var signable = SigV4Request(
            method: request.method, path: path, query: query,
            headers: request.headers.filter {
                names.contains($0.name.lowercased()) && $0.name.lowercased() != "x-amz-date"
                    && $0.name.lowercased() != "x-amz-security-token"
            }, body: request.body)
        let expected = SigV4Signer(credentials: credentials, region: scope[2], service: scope[3])
            .sign(&signable, date: signedAt)
        guard expected.signature == signature else { return .failure("the signature does not match") }
        return .success(account)
    }

    static func parseAmzDate(_ text: String) -> Date? {
        let digits = Array(text)
        guard digits.count == 16, digits[8] == "T", digits[15] == "Z" else { return nil }
        let iso =
            "\(String(digits[0..<4]))-\(String(digits[4..<6]))-\(String(digits[6..<8]))T"
            + "\(String(digits[9..<11])):\(String(digits[11..<13])):\(String(digits[13..<15]))Z"
        return UTCTimestamp.parseISO8601(iso)
    }

    private func count(_ operation: String, _ account: String) {
        state.withLock {
            $0.calls[operation, default: 0] += 1
            $0.calls["\(operation)/\(account)", default: 0] += 1
        }
    }

    // MARK: STS

    private func sts(_ request: FakeHTTPRequest, caller: String) -> FakeHTTPAction {
        let form = Self.form(request.body)
        switch form["Action"] {
        case "GetCallerIdentity":
            count("GetCallerIdentity", caller)
            return .respond(
                status: 200, headers: [("Content-Type", "text/xml")],
                body: Array(
                    """
                    <GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\
                    <GetCallerIdentityResult><Arn>arn:aws:iam::\(caller):user/simulated</Arn>\
                    <UserId>AIDASIMULATED</UserId><Account>\(caller)</Account></GetCallerIdentityResult>\
                    <ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></GetCallerIdentityResponse>
                    """.utf8))
        case "AssumeRole":
            let roleARN = form["RoleArn"] ?? ""
            let parts = roleARN.split(separator: ":", omittingEmptySubsequences: false)
            guard parts.count == 6, parts[0] == "arn", parts[2] == "iam", parts[5].hasPrefix("role/"),
                let target = accounts[String(parts[4])], form["RoleSessionName"] != nil
            else { return Self.queryError("ValidationError", 400, "invalid RoleArn or RoleSessionName") }
            count("AssumeRole", target.id)
            guard !faults(of: target).denyAssumeRole else {
                return Self.queryError(
                    "AccessDenied", 403, "not authorized to perform sts:AssumeRole on resource \(roleARN)")
            }
            let (keyID, secret, token): (String, String, String) = state.withLock { state in
                state.nextKey += 1
                let keyID = String(format: "ASIASIM%013d", state.nextKey)
                let issued = (account: target.id, secret: "secret-\(state.nextKey)", token: "token-\(state.nextKey)")
                state.issued[keyID] = issued
                state.assumeRoles[target.id, default: 0] += 1
                return (keyID, issued.secret, issued.token)
            }
            let duration = Int(form["DurationSeconds"] ?? "") ?? 3600
            let expiration = UTCTimestamp.extendedWithMilliseconds(Date().addingTimeInterval(Double(duration)))
            return .respond(
                status: 200, headers: [("Content-Type", "text/xml")],
                body: Array(
                    """
                    <AssumeRoleResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><AssumeRoleResult>\
                    <Credentials><AccessKeyId>\(keyID)</AccessKeyId><SecretAccessKey>\(secret)</SecretAccessKey>\
                    <SessionToken>\(token)</SessionToken><Expiration>\(expiration)</Expiration></Credentials>\
                    <AssumedRoleUser><Arn>arn:aws:sts::\(target.id):assumed-role/\(parts[5].dropFirst(5))/s</Arn>\
                    <AssumedRoleId>AROASIM:s</AssumedRoleId></AssumedRoleUser></AssumeRoleResult>\
                    <ResponseMetadata><RequestId>sim</RequestId></ResponseMetadata></AssumeRoleResponse>
                    """.utf8))
        default:
            return Self.queryError("InvalidAction", 400, "unsupported action")
        }
    }

    // MARK: sso-admin

    private func listInstances(_ request: FakeHTTPRequest, caller: String) async -> FakeHTTPAction {
        guard let account = accounts[caller] else { return Self.jsonError("AccessDeniedException", 403, "no account") }
        let region = Self.signingRegion(request) ?? ""
        count("ListInstances", caller)
        if let refusal = faultAnswer(for: account) { return refusal }
        return Self.page(
            account.instances[region] ?? [], as: "Instances", body: Self.jsonObject(request.body),
            json: FakeSSOAdminService.json)
    }

    /// What `account`'s faults answer an sso-admin call with, if anything.
    private func faultAnswer(for account: Account) -> FakeHTTPAction? {
        let faults = faults(of: account)
        if faults.hang { return .hang }
        if faults.throttle { return Self.jsonError("ThrottlingException", 400, "Rate exceeded") }
        return nil
    }

    /// One page of an sso-admin listing under `member`: `MaxResults` 1..100 (default 100), `tok-N` tokens.
    private static func page<Item>(
        _ items: [Item], as member: String, body: [String: Any], json: (Item) -> [String: Any]
    ) -> FakeHTTPAction {
        let pageSize = min(max(body["MaxResults"] as? Int ?? 100, 1), 100)
        let offset = (body["NextToken"] as? String).flatMap { Int($0.dropFirst(4)) } ?? 0
        guard offset <= items.count else { return jsonError("ValidationException", 400, "bad NextToken") }
        let page = items[offset..<min(offset + pageSize, items.count)]
        var response: [String: Any] = [member: page.map(json)]
        if offset + page.count < items.count { response["NextToken"] = "tok-\(offset + page.count)" }
        return Self.json(response)
    }

    /// The name sso-admin's `ListRegions` is counted and overridden under (`ListRegions` is Account's).
    public static let instanceRegionsOperation = "SSOAdmin.ListRegions"

    /// `DescribeInstance` and sso-admin's `ListRegions` for an instance the caller owns, in any of its Regions; an
    /// instance it does not own is refused with `AccessDeniedException`, as the service does.
    private func instanceDetails(_ request: FakeHTTPRequest, caller: String, operation: String) -> FakeHTTPAction {
        guard let account = accounts[caller] else { return Self.jsonError("AccessDeniedException", 403, "no account") }
        count(operation, caller)
        if let refusal = faultAnswer(for: account) { return refusal }
        let body = Self.jsonObject(request.body)
        guard let arn = body["InstanceArn"] as? String else {
            return Self.jsonError("ValidationException", 400, "InstanceArn is required")
        }
        guard
            let (home, instance) = account.instances.lazy.flatMap({ region, list in list.map { (region, $0) } })
                .first(where: { $0.1.instanceArn == arn && $0.1.ownerAccountId == caller })
        else { return Self.jsonError("AccessDeniedException", 400, "User is not authorized to describe \(arn)") }
        if operation == "DescribeInstance" { return Self.json(FakeSSOAdminService.describeJSON(instance)) }
        let regions = instance.regions ?? [FakeRegion(home, addedDate: instance.createdDate, isPrimary: true)]
        return Self.page(regions, as: "Regions", body: body, json: FakeSSOAdminService.json)
    }

    // MARK: Organizations

    private func listAccounts(_ request: FakeHTTPRequest, caller: String) -> FakeHTTPAction {
        guard caller == managementAccountID else {
            return Self.jsonError(
                "AWSOrganizationsNotInUseException", 400, "Your account is not a member of an organization.")
        }
        count("ListAccounts", caller)
        let body = Self.jsonObject(request.body)
        let pageSize = min(max(body["MaxResults"] as? Int ?? 20, 1), 20)
        let offset = (body["NextToken"] as? String).flatMap { Int($0.dropFirst(4)) } ?? 0
        let ids = order[min(offset, order.count)..<min(offset + pageSize, order.count)]
        var response: [String: Any] = [
            "Accounts": ids.compactMap { accounts[$0] }.map { account in
                [
                    "Id": account.id,
                    "Arn": "arn:aws:organizations::\(managementAccountID):account/"
                        + "\(Self.organizationID)/\(account.id)",
                    "Email": "\(account.name)@example.com", "Name": account.name, "State": account.state,
                    "Status": account.state == "ACTIVE" ? "ACTIVE" : "SUSPENDED",
                    "JoinedMethod": "CREATED", "JoinedTimestamp": 1_600_000_000,
                ] as [String: Any]
            }
        ]
        if offset + ids.count < order.count { response["NextToken"] = "tok-\(offset + ids.count)" }
        return Self.json(response)
    }

    private func describeOrganization(caller: String) -> FakeHTTPAction {
        count("DescribeOrganization", caller)
        return Self.json([
            "Organization": [
                "Id": Self.organizationID,
                "Arn": "arn:aws:organizations::\(managementAccountID):organization/\(Self.organizationID)",
                "FeatureSet": "ALL", "MasterAccountId": managementAccountID,
                "MasterAccountArn": "arn:aws:organizations::\(managementAccountID):account/"
                    + "\(Self.organizationID)/\(managementAccountID)",
                "MasterAccountEmail": "management@example.com",
            ]
        ])
    }

    // MARK: Account

    private func listRegions(_ request: FakeHTTPRequest, caller: String) -> FakeHTTPAction {
        let body = Self.jsonObject(request.body)
        let accountID = body["AccountId"] as? String ?? caller
        guard let account = accounts[accountID] else {
            return Self.jsonError("AccessDeniedException", 403, "no such account")
        }
        count("ListRegions", caller)
        return Self.json([
            "Regions": account.enabledRegions.map { ["RegionName": $0, "RegionOptStatus": "ENABLED_BY_DEFAULT"] }
        ])
    }

    // MARK: Encoding

    static func signingRegion(_ request: FakeHTTPRequest) -> String? {
        guard let credential = request.header("Authorization")?.split(separator: " ").dropFirst().first,
            case let scope = credential.split(separator: "/"), scope.count >= 3
        else { return nil }
        return String(scope[2])
    }

    static func form(_ body: [UInt8]) -> [String: String] {
        var result: [String: String] = [:]
        for pair in String(decoding: body, as: UTF8.self).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1).map {
                String($0).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String($0)
            }
            if parts.count == 2 { result[parts[0]] = parts[1] }
        }
        return result
    }

    public static func jsonObject(_ body: [UInt8]) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:]
    }

    public static func json(_ object: [String: Any]) -> FakeHTTPAction {
        .respond(
            status: 200, headers: [("Content-Type", "application/x-amz-json-1.1")],
            body: Array((try? JSONSerialization.data(withJSONObject: object)) ?? Data()))
    }

    public static func jsonError(_ code: String, _ status: Int, _ message: String) -> FakeHTTPAction {
        .respond(
            status: status, headers: [("Content-Type", "application/x-amz-json-1.1")],
            body: Array(
                (try? JSONSerialization.data(withJSONObject: ["__type": code, "message": message])) ?? Data()))
    }

    static func queryError(_ code: String, _ status: Int, _ message: String) -> FakeHTTPAction {
        .respond(
            status: status, headers: [("Content-Type", "text/xml")],
            body: Array(
                """
                <ErrorResponse><Error><Type>Sender</Type><Code>\(code)</Code><Message>\(message)</Message></Error>\
                <RequestId>sim</RequestId></ErrorResponse>
                """.utf8))
    }
}
