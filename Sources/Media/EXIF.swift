// Finding the EXIF orientation tag in a JPEG without any library: walk the marker segments up to
// the first scan, find APP1 "Exif", and read tag 0x0112 from the TIFF structure's first IFD.

enum EXIF {
    /// The orientation a JPEG's EXIF block declares, or `nil` when there is none (or it is
    /// malformed: a bad EXIF block never fails the decode).
    static func jpegOrientation(_ bytes: UnsafeRawBufferPointer) -> ImageOrientation? {
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { return nil }
        var offset = 2
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { return nil }
            var markerAt = offset + 1
            while markerAt < bytes.count, bytes[markerAt] == 0xFF { markerAt += 1 }  // fill bytes
            guard markerAt < bytes.count else { return nil }
            let marker = bytes[markerAt]
            offset = markerAt + 1
            if marker == 0x01 || (0xD0...0xD8).contains(marker) { continue }  // no length field
            if marker == 0xDA || marker == 0xD9 { return nil }  // scan data or end: no EXIF before it
            guard offset + 2 <= bytes.count else { return nil }
            let length = Int(bytes[offset]) << 8 | Int(bytes[offset + 1])
            guard length >= 2, offset + length <= bytes.count else { return nil }
            let segment = UnsafeRawBufferPointer(rebasing: bytes[(offset + 2)..<(offset + length)])
            if marker == 0xE1, segment.count > 6, segment.starts(with: [0x45, 0x78, 0x69, 0x66, 0, 0]) {
                if let found = tiffOrientation(UnsafeRawBufferPointer(rebasing: segment[6...])) { return found }
            }
            offset += length
        }
        return nil
    }

    /// Reads tag 0x0112 from IFD0 of a TIFF structure ("II*\0" or "MM\0*").
    static func tiffOrientation(_ tiff: UnsafeRawBufferPointer) -> ImageOrientation? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        switch (tiff[0], tiff[1]) {
        case (0x49, 0x49): little = true
        case (0x4D, 0x4D): little = false
        default: return nil
        }
        func u16(_ at: Int) -> Int? {
            guard at >= 0, at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard let a = u16(at), let b = u16(at + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        guard u16(2) == 42, let ifd = u32(4), let entries = u16(ifd) else { return nil }
        for index in 0..<entries {
            let entry = ifd + 2 + index * 12
            guard let tag = u16(entry), let type = u16(entry + 2), let count = u32(entry + 4) else { return nil }
            guard tag == 0x0112 else { continue }
            // SHORT (3) is what the standard says; LONG (4) appears in the wild.
            guard count == 1 else { return nil }
            let value: Int?
            switch type {
            case 3: value = u16(entry + 8)
            case 4: value = u32(entry + 8)
            default: value = nil
            }
            return value.flatMap { ImageOrientation(rawValue: $0) }
        }
        return nil
    }
}
