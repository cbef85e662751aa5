import Foundation
import ModelKit
import NIOConcurrencyHelpers
import Testing

@testable import peregrine

@Suite("Progress on stderr")
struct ProgressPrinterTests {
    @Test("not a terminal: plain lines, repeated ones dropped, byte counts at most one per interval")
    func plain() {
        let text = NIOLockedValueBox("")
        let printer = ProgressPrinter(tty: false, interval: 3600) { s in text.withLockedValue { $0 += s } }
        printer.step(0, of: 2, "a")
        printer.step(0, of: 2, "a")
        printer.step(1, of: 2, "b")
        printer.bytes("x.safetensors", received: 1 << 20, total: 4 << 20)
        printer.bytes("x.safetensors", received: 2 << 20, total: 4 << 20)
        printer.log("note")
        printer.finish()
        #expect(text.withLockedValue { $0 } == """
            progress   0% 0/2 a
            progress  50% 1/2 b
            progress  25% 1 MiB of 4 MiB x.safetensors
            note

            """)
    }

    @Test("a terminal: one redrawn bar line, cleared for log lines, ended by finish")
    func tty() {
        let text = NIOLockedValueBox("")
        let printer = ProgressPrinter(tty: true) { s in text.withLockedValue { $0 += s } }
        printer.show(ModelKit.Progress(fraction: 0.5, step: 1, total: 2, message: "half"))
        printer.log("line")
        printer.finish()
        let out = text.withLockedValue { $0 }
        #expect(out.hasPrefix("\r[###############...............]  50% 1/2 half"))
        #expect(out.contains("\r\u{1B}[Kline\n"))
        #expect(out.hasSuffix("\n"))
        #expect(!out.contains("progress "))
    }
}
