import Foundation

extension ONNX.ModelProto {
    /// Decodes a serialized `ModelProto`.
    /// - Parameter bytes: the whole `.onnx` file.
    /// - Throws: ``ModelFormatError`` `.malformed` naming the message, the field and the byte offset.
    public init(serialized bytes: [UInt8]) throws {
        var r = ProtobufReader(bytes: bytes, context: "ModelProto")
        try self.init(reader: &r)
    }

    /// Reads and decodes a `.onnx` file.
    /// - Throws: ``ModelFormatError`` `.io` when the file cannot be read, `.malformed` when it is not a model.
    public init(contentsOf path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelFormatError(.io, "onnx: cannot read \(path)")
        }
        try self.init(serialized: [UInt8](data))
    }

    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1: try r.expect(wire, .varint, "ir_version"); irVersion = try r.readInt64("ir_version")
            case 2: try r.expect(wire, .lengthDelimited, "producer_name"); producerName = try r.readString("producer_name")
            case 7:
                try r.expect(wire, .lengthDelimited, "graph")
                var sub = try r.readMessage("graph", context: "GraphProto")
                graph = try ONNX.GraphProto(reader: &sub)
            case 8:
                try r.expect(wire, .lengthDelimited, "opset_import")
                var sub = try r.readMessage("opset_import", context: "OperatorSetIdProto")
                var domain = "", version: Int64 = 0
                while !sub.isAtEnd {
                    let (f, w) = try sub.readKey()
                    switch f {
                    case 1: try sub.expect(w, .lengthDelimited, "domain"); domain = try sub.readString("domain")
                    case 2: try sub.expect(w, .varint, "version"); version = try sub.readInt64("version")
                    default: try sub.skip(w, field: f)
                    }
                }
                opsetImport[domain == "ai.onnx" ? "" : domain] = version
            default: try r.skip(wire, field: field)
            }
        }
    }
}

extension ONNX.GraphProto {
    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1:
                try r.expect(wire, .lengthDelimited, "node")
                var sub = try r.readMessage("node", context: "NodeProto")
                nodes.append(try ONNX.NodeProto(reader: &sub))
            case 2: try r.expect(wire, .lengthDelimited, "name"); name = try r.readString("name")
            case 5:
                try r.expect(wire, .lengthDelimited, "initializer")
                var sub = try r.readMessage("initializer", context: "TensorProto")
                initializers.append(try ONNX.TensorProto(reader: &sub))
            case 11, 12, 13:
                let label = field == 11 ? "input" : field == 12 ? "output" : "value_info"
                try r.expect(wire, .lengthDelimited, label)
                var sub = try r.readMessage(label, context: "ValueInfoProto")
                let info = try ONNX.ValueInfoProto(reader: &sub)
                if field == 11 { inputs.append(info) } else if field == 12 { outputs.append(info) } else { valueInfo.append(info) }
            default: try r.skip(wire, field: field)
            }
        }
    }
}

extension ONNX.NodeProto {
    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, "input"); inputs.append(try r.readString("input"))
            case 2: try r.expect(wire, .lengthDelimited, "output"); outputs.append(try r.readString("output"))
            case 3: try r.expect(wire, .lengthDelimited, "name"); name = try r.readString("name")
            case 4: try r.expect(wire, .lengthDelimited, "op_type"); opType = try r.readString("op_type")
            case 7: try r.expect(wire, .lengthDelimited, "domain"); domain = try r.readString("domain")
            case 5:
                try r.expect(wire, .lengthDelimited, "attribute")
                var sub = try r.readMessage("attribute", context: "AttributeProto")
                attributes.append(try ONNX.AttributeProto(reader: &sub))
            default: try r.skip(wire, field: field)
            }
        }
    }
}

extension ONNX.AttributeProto {
    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, "name"); name = try r.readString("name")
            case 20:
                try r.expect(wire, .varint, "type")
                let start = r.offset
                let raw = try r.readInt64("type")
                guard let k = Kind(rawValue: Int32(truncatingIfNeeded: raw)), Int64(k.rawValue) == raw else {
                    throw r.error("type", "unknown attribute type \(raw)", at: start)
                }
                kind = k
            case 2: try r.expect(wire, .fixed32, "f"); f = try r.readFloat("f")
            case 3: try r.expect(wire, .varint, "i"); i = try r.readInt64("i")
            case 4: try r.expect(wire, .lengthDelimited, "s"); s = Array(try r.readBytes("s"))
            case 5:
                try r.expect(wire, .lengthDelimited, "t")
                var sub = try r.readMessage("t", context: "TensorProto")
                t = try ONNX.TensorProto(reader: &sub)
            case 6:
                try r.expect(wire, .lengthDelimited, "g")
                var sub = try r.readMessage("g", context: "GraphProto")
                g = ONNX.GraphBox(try ONNX.GraphProto(reader: &sub))
            case 7: try r.readRepeatedFloat(wire, "floats", into: &floats)
            case 8: try r.readRepeatedInt64(wire, "ints", into: &ints)
            case 9: try r.expect(wire, .lengthDelimited, "strings"); strings.append(Array(try r.readBytes("strings")))
            default: try r.skip(wire, field: field)
            }
        }
        // IR < 3 files omit `type`; infer it from the field that was set.
        if kind == .undefined {
            if t != nil { kind = .tensor } else if g != nil { kind = .graph }
            else if !floats.isEmpty { kind = .floats } else if !ints.isEmpty { kind = .ints }
            else if !strings.isEmpty { kind = .strings } else if !s.isEmpty { kind = .string }
        }
    }
}

extension ONNX.TensorProto {
    /// Decodes a serialized `TensorProto` (the `.pb` files of ONNX test data sets).
    /// - Throws: ``ModelFormatError`` `.malformed` naming the field and the byte offset.
    public init(serialized bytes: [UInt8]) throws {
        var r = ProtobufReader(bytes: bytes, context: "TensorProto")
        try self.init(reader: &r)
    }

    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1: try r.readRepeatedInt64(wire, "dims", into: &dims)
            case 2:
                try r.expect(wire, .varint, "data_type")
                dataTypeRaw = Int32(truncatingIfNeeded: try r.readInt64("data_type"))
            case 4: try r.readRepeatedFloat(wire, "float_data", into: &floatData)
            case 5: try r.readRepeatedInt64(wire, "int32_data", into: &int32Data)
            case 7: try r.readRepeatedInt64(wire, "int64_data", into: &int64Data)
            case 8: try r.expect(wire, .lengthDelimited, "name"); name = try r.readString("name")
            case 9: try r.expect(wire, .lengthDelimited, "raw_data"); rawData = try r.readBytes("raw_data")
            case 10: try r.readRepeatedDouble(wire, "double_data", into: &doubleData)
            case 11: try r.readRepeatedInt64(wire, "uint64_data", into: &uint64Data)
            case 13:
                try r.expect(wire, .lengthDelimited, "external_data")
                var sub = try r.readMessage("external_data", context: "StringStringEntryProto")
                var key = "", value = ""
                while !sub.isAtEnd {
                    let (f, w) = try sub.readKey()
                    switch f {
                    case 1: try sub.expect(w, .lengthDelimited, "key"); key = try sub.readString("key")
                    case 2: try sub.expect(w, .lengthDelimited, "value"); value = try sub.readString("value")
                    default: try sub.skip(w, field: f)
                    }
                }
                externalData[key] = value
            case 14: try r.expect(wire, .varint, "data_location"); dataLocation = try r.readInt64("data_location")
            default: try r.skip(wire, field: field)
            }
        }
        for d in dims where d < 0 || d > Int64(Int32.max) {
            throw r.error("dims", "extent \(d) out of range in tensor '\(name)'")
        }
    }
}

extension ONNX.ValueInfoProto {
    init(reader r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1: try r.expect(wire, .lengthDelimited, "name"); name = try r.readString("name")
            case 2:
                try r.expect(wire, .lengthDelimited, "type")
                var type = try r.readMessage("type", context: "TypeProto")
                while !type.isAtEnd {
                    let (f, w) = try type.readKey()
                    guard f == 1 else { try type.skip(w, field: f); continue }
                    try type.expect(w, .lengthDelimited, "tensor_type")
                    var tensor = try type.readMessage("tensor_type", context: "TypeProto.Tensor")
                    try readTensorType(&tensor)
                }
            default: try r.skip(wire, field: field)
            }
        }
    }

    private mutating func readTensorType(_ r: inout ProtobufReader) throws {
        while !r.isAtEnd {
            let (field, wire) = try r.readKey()
            switch field {
            case 1:
                try r.expect(wire, .varint, "elem_type")
                elementType = Int32(truncatingIfNeeded: try r.readInt64("elem_type"))
            case 2:
                try r.expect(wire, .lengthDelimited, "shape")
                var shapeReader = try r.readMessage("shape", context: "TensorShapeProto")
                var dims: [ONNX.Dimension] = []
                while !shapeReader.isAtEnd {
                    let (f, w) = try shapeReader.readKey()
                    guard f == 1 else { try shapeReader.skip(w, field: f); continue }
                    try shapeReader.expect(w, .lengthDelimited, "dim")
                    var dimReader = try shapeReader.readMessage("dim", context: "TensorShapeProto.Dimension")
                    var dim = ONNX.Dimension.unknown
                    while !dimReader.isAtEnd {
                        let (df, dw) = try dimReader.readKey()
                        switch df {
                        case 1: try dimReader.expect(dw, .varint, "dim_value"); dim = .value(try dimReader.readInt64("dim_value"))
                        case 2: try dimReader.expect(dw, .lengthDelimited, "dim_param"); dim = .param(try dimReader.readString("dim_param"))
                        default: try dimReader.skip(dw, field: df)
                        }
                    }
                    dims.append(dim)
                }
                shape = dims
            default: try r.skip(wire, field: field)
            }
        }
    }
}
