import Client
import Foundation
import ModelKit

/// `swift run ClientExample ENDPOINT JSON` with `PEREGRINE_SERVER` (default
/// `https://127.0.0.1:8443`), `FAL_KEY` and `PEREGRINE_CACERT` (the server's certificate):
/// submits a request, prints its queue position and logs as they come, then its result.
@main
struct ClientExample {
    static func main() async throws {
        let arguments = CommandLine.arguments.dropFirst()
        guard arguments.count == 2, let endpoint = arguments.first, let text = arguments.last else {
            FileHandle.standardError.write(Data("usage: ClientExample ENDPOINT JSON\n".utf8))
            exit(2)
        }
        let env = ProcessInfo.processInfo.environment
        let http = try PeregrineClient.makeHTTPClient(trusting: env["PEREGRINE_CACERT"])
        let client = PeregrineClient(baseURL: env["PEREGRINE_SERVER"] ?? "https://127.0.0.1:8443", key: env["FAL_KEY"], httpClient: http)
        do {
            let input = try JSONValue(parsing: Data(text.utf8))
            let output = try await client.subscribe(endpoint, input: input, logs: true, onUpdate: { status in
                FileHandle.standardError.write(Data("\(status.status.rawValue) \(status.queuePosition.map { "position \($0)" } ?? "")\n".utf8))
            })
            print(String(decoding: output.encoded(pretty: true), as: UTF8.self))
        } catch let error as ClientError {
            // Typed: the class of failure, fal's detail and error_type, whether it was a user timeout.
            FileHandle.standardError.write(Data("\(error.code): \(error)\n".utf8))
        }
        try await http.shutdown()
    }
}
