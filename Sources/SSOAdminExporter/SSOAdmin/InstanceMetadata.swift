import AWSClient

/// `InstanceStatus` from the sso-admin model, keeping any value the model does not list yet.
package enum InstanceStatus: Sendable, Hashable, CustomStringConvertible {
    case createInProgress
    case createFailed
    case deleteInProgress
    case active
    /// A value outside the model, kept as reported (cleaned for use as a label value).
    case unrecognized(String)

    /// The statuses the service model lists, in the model's order; each always has a series.
    package static let modeled: [InstanceStatus] = [.createInProgress, .createFailed, .deleteInProgress, .active]

    package init(rawValue: String) {
        switch rawValue {
        case "CREATE_IN_PROGRESS": self = .createInProgress
        case "CREATE_FAILED": self = .createFailed
        case "DELETE_IN_PROGRESS": self = .deleteInProgress
        case "ACTIVE": self = .active
        default: self = .unrecognized(LabelValue.clean(rawValue, maxLength: 64))
        }
    }

    package var rawValue: String {
        switch self {
        case .createInProgress: "CREATE_IN_PROGRESS"
        case .createFailed: "CREATE_FAILED"
        case .deleteInProgress: "DELETE_IN_PROGRESS"
        case .active: "ACTIVE"
        case .unrecognized(let value): value
        }
    }

    package var description: String { rawValue }
}

/// One entry of `ListInstancesResponse.Instances`, decoded leniently: every field may be absent or null,
/// and a field of the wrong type counts as absent instead of failing the whole page.
package struct InstanceMetadata: Sendable, Equatable {
    package var instanceArn: String?
    package var identityStoreId: String?
    package var ownerAccountId: String?
    package var name: String?
    /// `CreatedDate`, which the JSON protocol sends as fractional epoch seconds.
    package var createdDate: Double?
    package var status: InstanceStatus?
    package var statusReason: String?

    package init(
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

    /// The members of the model's `InstanceMetadata` shape, as they appear on the wire.
    package enum Member: String, CaseIterable, Sendable {
        case instanceArn = "InstanceArn"
        case identityStoreId = "IdentityStoreId"
        case ownerAccountId = "OwnerAccountId"
        case name = "Name"
        case createdDate = "CreatedDate"
        case status = "Status"
        case statusReason = "StatusReason"
    }

    /// Reads one instance object; members outside the model are skipped.
    init(reading reader: inout JSONReader) throws {
        self.init(instanceArn: nil)
        try reader.readObject { reader, key in
            switch Member(rawValue: key) {
            case .instanceArn: instanceArn = try reader.readString()
            case .identityStoreId: identityStoreId = try reader.readString()
            case .ownerAccountId: ownerAccountId = try reader.readString()
            case .name: name = try reader.readString()
            case .createdDate: createdDate = try reader.readNumber().flatMap { $0.isFinite ? $0 : nil }
            case .status: status = try reader.readString().map(InstanceStatus.init(rawValue:))
            case .statusReason: statusReason = try reader.readString()
            case nil: try reader.skipValue()
            }
        }
    }

    /// The instance id, `ssoins-…`, which is the last path segment of the ARN.
    package var instanceID: String? {
        guard let arn = instanceArn, let slash = arn.lastIndex(of: "/") else { return nil }
        let id = arn[arn.index(after: slash)...]
        return id.isEmpty ? nil : String(id)
    }
}

/// `ListInstancesResponse`.
package struct ListInstancesPage: Sendable, Equatable {
    package var instances: [InstanceMetadata]
    package var nextToken: String?

    package init(instances: [InstanceMetadata], nextToken: String?) {
        self.instances = instances
        self.nextToken = nextToken
    }

    /// The members of the model's `ListInstancesResponse` shape.
    package enum Member: String, CaseIterable, Sendable {
        case instances = "Instances"
        case nextToken = "NextToken"
    }

    /// Reads a whole response body. The top level must be an object and `Instances`, when present and not null,
    /// a list of objects: anything else is not a `ListInstancesResponse` and fails the page.
    init(reading reader: inout JSONReader) throws {
        self.init(instances: [], nextToken: nil)
        try reader.readObject { reader, key in
            switch Member(rawValue: key) {
            case .instances:
                if try reader.readNull() {
                    instances = []
                    return
                }
                guard try reader.peekKind() == .array else { throw ListInstancesShapeError.instancesNotAList }
                var read: [InstanceMetadata] = []
                try reader.readArray { reader in
                    guard try reader.peekKind() == .object else { throw ListInstancesShapeError.instanceNotAnObject }
                    read.append(try InstanceMetadata(reading: &reader))
                }
                instances = read
            case .nextToken: nextToken = try reader.readString()
            case nil: try reader.skipValue()
            }
        }
        try reader.expectEnd()
    }
}

/// Valid JSON in a shape that is not a `ListInstancesResponse`.
enum ListInstancesShapeError: Error, CustomStringConvertible {
    case topLevelNotAnObject
    case instancesNotAList
    case instanceNotAnObject

    var description: String {
        switch self {
        case .topLevelNotAnObject: "the top level is not an object"
        case .instancesNotAList: "Instances is not a list"
        case .instanceNotAnObject: "an element of Instances is not an object"
        }
    }
}

/// Cleans text from AWS for use as a label value: no control characters, bounded length.
package enum LabelValue {
    package static func clean(_ value: String, maxLength: Int) -> String {
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
