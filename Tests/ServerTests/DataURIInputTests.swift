import Foundation
import ModelKit
@testable import Runners
import Testing

/// `data:` URI inputs go through Media's parser; its failures reach the client as fal's
/// `file_download_error` naming the field, with 413 for payloads over the input limit.
@Suite("Data URI inputs")
struct DataURIInputTests {
    @Test("a well-formed URI becomes the file with its media type")
    func decodes() throws {
        let file = try FetchedFile.decoding(dataURI: "data:Image/PNG;base64,AAEC", field: "image_url", maxBytes: 16)
        #expect(file.data == Data([0, 1, 2]))
        #expect(file.contentType == "image/png")
    }

    @Test("malformed URIs are 422 file_download_error at the field", arguments: [
        "data:", "data:image/png;base64", "data:image/png;base64,@@@@", "data:not a type;base64,AAAA", "data:,%zz",
    ])
    func malformed(uri: String) {
        #expect {
            try FetchedFile.decoding(dataURI: uri, field: "image_url", maxBytes: 1 << 20)
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.code == .fileDownloadError && error.status == 422 && error.field == ["body", "image_url"]
        }
    }

    @Test("a payload over the limit is 413, refused before it is decoded")
    func tooLarge() {
        let uri = "data:application/octet-stream;base64," + String(repeating: "AAAA", count: 1 << 18)
        #expect {
            try FetchedFile.decoding(dataURI: uri, field: "video_url", maxBytes: 1000)
        } throws: { error in
            guard let error = error as? ModelError else { return false }
            return error.code == .fileDownloadError && error.status == 413 && error.field == ["body", "video_url"]
        }
    }
}
