#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The `awsJson1_1` protocol: `POST /` with an `X-Amz-Target` header and a JSON body.
public enum AWSJSONProtocol {
    public static let contentType = "application/x-amz-json-1.1"

    /// The unsigned request for one operation.
    public static func request(
        endpoint: URL,
        targetPrefix: String,
        operation: String,
        body: [UInt8]
    ) -> AWSHTTPRequest {
        AWSHTTPRequest(
            method: "POST",
            url: endpoint,
            headers: [
                ("Content-Type", contentType),
                ("X-Amz-Target", "\(targetPrefix).\(operation)"),
            ],
            body: body
        )
    }

    /// The unsigned `restJson1` request for an operation bound to `POST path` (such as Account's `/listRegions`).
    public static func restRequest(endpoint: URL, path: String, body: [UInt8]) -> AWSHTTPRequest {
        var url = endpoint
        url.append(path: String(path.drop(while: { $0 == "/" })))
        return AWSHTTPRequest(
            method: "POST", url: url, headers: [("Content-Type", "application/json")], body: body)
    }

    /// The error in a non-2xx response, following the order the AWS SDKs use for `awsJson1_1`:
    /// the `X-Amzn-ErrorType` header, then `__type`, then `code` in the body.
    /// A body that is not JSON falls back to an XML `<Code>` element and then to a name for the HTTP status.
    public static func parseError(_ response: AWSHTTPResponse) -> AWSServiceError {
        let requestID = response.header("x-amzn-requestid") ?? response.header("x-amz-request-id")
        var code = response.header("x-amzn-errortype").map(normalizeErrorCode)
        var message: String?
        if let object = try? JSONDecoder().decode(JSONErrorBody.self, from: Data(response.body)) {
            if code == nil || code?.isEmpty == true {
                code = (object.type ?? object.code ?? object.capitalizedCode).map(normalizeErrorCode)
            }
            message = object.message ?? object.capitalizedMessage
        } else if code == nil || code?.isEmpty == true {
            let text = String(decoding: response.body.prefix(64 << 10), as: UTF8.self)
            code = xmlElement("Code", in: text)
            message = xmlElement("Message", in: text)
        }
        let resolved = (code?.isEmpty == false ? code : nil) ?? statusCodeName(response.status)
        return AWSServiceError(code: resolved, statusCode: response.status, message: message, requestID: requestID)
    }

    /// `aws.protocoltests#ThrottlingException:http://internal` becomes `ThrottlingException`.
    public static func normalizeErrorCode(_ raw: String) -> String {
        var code = raw.trimmingASCIIWhitespace()
        if let colon = code.firstIndex(of: ":") { code = code[..<colon] }
        if let hash = code.lastIndex(of: "#") { code = code[code.index(after: hash)...] }
        return String(code)
    }

    /// A stable error name for a response that carried none.
    public static func statusCodeName(_ status: Int) -> String {
        switch status {
        case 400: "BadRequest"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "NotFound"
        case 413: "RequestEntityTooLarge"
        case 429: "TooManyRequests"
        case 500: "InternalServerError"
        case 502: "BadGateway"
        case 503: "ServiceUnavailable"
        case 504: "GatewayTimeout"
        default: "HTTP\(status)"
        }
    }

    private static func xmlElement(_ name: String, in text: String) -> String? {
        guard let open = text.firstRange(of: "<\(name)>"),
            let close = text[open.upperBound...].firstRange(of: "</\(name)>")
        else { return nil }
        let value = text[open.upperBound..<close.lowerBound].trimmingASCIIWhitespace()
        return value.isEmpty ? nil : String(value)
    }
}

/// The fields of a JSON error body the SDKs look at. Each is optional and a field of the wrong type is ignored,
/// so that an odd error body still yields whatever name it does carry.
private struct JSONErrorBody: Decodable {
    var type: String?
    var code: String?
    var capitalizedCode: String?
    var message: String?
    var capitalizedMessage: String?

    private enum CodingKeys: String, CodingKey {
        case type = "__type"
        case code
        case capitalizedCode = "Code"
        case message
        case capitalizedMessage = "Message"
    }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try? container.decodeIfPresent(String.self, forKey: .type)
        code = try? container.decodeIfPresent(String.self, forKey: .code)
        capitalizedCode = try? container.decodeIfPresent(String.self, forKey: .capitalizedCode)
        message = try? container.decodeIfPresent(String.self, forKey: .message)
        capitalizedMessage = try? container.decodeIfPresent(String.self, forKey: .capitalizedMessage)
    }
}
