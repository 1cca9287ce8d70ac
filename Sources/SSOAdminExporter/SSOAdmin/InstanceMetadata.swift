import Foundation

/// `InstanceStatus` from the sso-admin model, keeping any value the model does not list yet.
public enum InstanceStatus: Sendable, Hashable, CustomStringConvertible {
    case createInProgress
    case createFailed
    case deleteInProgress
    case active
    /// A value outside the model, kept as reported (cleaned for use as a label value).
    case unrecognized(String)

    /// The statuses the service model lists, in the model's order; each always has a series.
    public static let modeled: [InstanceStatus] = [.createInProgress, .createFailed, .deleteInProgress, .active]

    public init(rawValue: String) {
        switch rawValue {
        case "CREATE_IN_PROGRESS": self = .createInProgress
        case "CREATE_FAILED": self = .createFailed
        case "DELETE_IN_PROGRESS": self = .deleteInProgress
        case "ACTIVE": self = .active
        default: self = .unrecognized(LabelValue.clean(rawValue, maxLength: 64))
        }
    }

    public var rawValue: String {
        switch self {
        case .createInProgress: "CREATE_IN_PROGRESS"
        case .createFailed: "CREATE_FAILED"
        case .deleteInProgress: "DELETE_IN_PROGRESS"
        case .active: "ACTIVE"
        case .unrecognized(let value): value
        }
    }

    public var description: String { rawValue }
}

/// One entry of `ListInstancesResponse.Instances`, decoded leniently: every field may be absent or null,
/// and a field of the wrong type counts as absent instead of failing the whole page.
public struct InstanceMetadata: Sendable, Equatable, Decodable {
    public var instanceArn: String?
    public var identityStoreId: String?
    public var ownerAccountId: String?
    public var name: String?
    /// `CreatedDate`, which the JSON protocol sends as fractional epoch seconds.
    public var createdDate: Double?
    public var status: InstanceStatus?
    public var statusReason: String?

    public init(
        instanceArn: String?,
        identityStoreId: String? = nil,
        ownerAccountId: String? = nil,
        name: String? = nil,
        createdDate: Double? = nil,
        status: InstanceStatus? = nil,
        statusReason: String? = nil
    ) {
        self.instanceArn = instanceArn
        self.identityStoreId = identityStoreId
        self.ownerAccountId = ownerAccountId
        self.name = name
        self.createdDate = createdDate
        self.status = status
        self.statusReason = statusReason
    }

    enum CodingKeys: String, CodingKey {
        case instanceArn = "InstanceArn"
        case identityStoreId = "IdentityStoreId"
        case ownerAccountId = "OwnerAccountId"
        case name = "Name"
        case createdDate = "CreatedDate"
        case status = "Status"
        case statusReason = "StatusReason"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func string(_ key: CodingKeys) -> String? { (try? container.decodeIfPresent(String.self, forKey: key)) ?? nil }
        instanceArn = string(.instanceArn)
        identityStoreId = string(.identityStoreId)
        ownerAccountId = string(.ownerAccountId)
        name = string(.name)
        createdDate = (try? container.decodeIfPresent(Double.self, forKey: .createdDate)) ?? nil
        if let created = createdDate, !created.isFinite { createdDate = nil }
        status = string(.status).map(InstanceStatus.init(rawValue:))
        statusReason = string(.statusReason)
    }

    /// The instance id, `ssoins-…`, which is the last path segment of the ARN.
    public var instanceID: String? {
        guard let arn = instanceArn, let slash = arn.lastIndex(of: "/") else { return nil }
        let id = arn[arn.index(after: slash)...]
        return id.isEmpty ? nil : String(id)
    }
}

/// `ListInstancesResponse`.
public struct ListInstancesPage: Sendable, Equatable, Decodable {
    public var instances: [InstanceMetadata]
    public var nextToken: String?

    public init(instances: [InstanceMetadata], nextToken: String?) {
        self.instances = instances
        self.nextToken = nextToken
    }

    enum CodingKeys: String, CodingKey {
        case instances = "Instances"
        case nextToken = "NextToken"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        instances = try container.decodeIfPresent([InstanceMetadata].self, forKey: .instances) ?? []
        nextToken = (try? container.decodeIfPresent(String.self, forKey: .nextToken)) ?? nil
    }
}

/// Cleans text from AWS for use as a label value: no control characters, bounded length.
public enum LabelValue {
    public static func clean(_ value: String, maxLength: Int) -> String {
        // Nearly every value from AWS is short printable ASCII: keep it as it is without a Unicode walk.
        if value.utf8.count <= maxLength, value.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7f }) {
            return value
        }
        var result = ""
        var count = 0
        for scalar in value.unicodeScalars where !scalar.properties.generalCategory.isControlLike {
            guard count < maxLength else {
                result.append("…")
                break
            }
            result.unicodeScalars.append(scalar)
            count += 1
        }
        return result
    }
}

extension Unicode.GeneralCategory {
    fileprivate var isControlLike: Bool {
        switch self {
        case .control, .format, .lineSeparator, .paragraphSeparator, .unassigned, .surrogate: true
        default: false
        }
    }
}
